// Lab failover server: a Braid server that, per stream, reads one byte — 'U': hashes everything
// after it (upload), 'D': sends BYTES of random data at RATE bytes/s (download).
// Speaks JSON lines: stdout {event:'listening', port, key, addresses}; per upload stream
// {event:'received', bytes, sha256, gapMs, gapFromStartMs}; per download stream {event:'midway'}
// at a quarter (the cue for the fault) and {event:'done', bytes, sha256, seconds};
// {event:'addresses', addresses} whenever its bound addresses change. stdin {faultStart,
// faultEnd} (epoch ms) brackets the lab command that applied the fault (see watchFault).
// --low-power: LOW_POWER_TRANSPORT's keepalive settings (the client must use them too).
// Usage: failover-server.ts [--bytes N --rate R] [--low-power] HOST... ('all': every interface, watched)
import type { Duplex } from 'node:stream';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { createServer } from '../../src/api/server.js';
import { LOW_POWER_TRANSPORT } from '../../src/index.js';
import { emit, pacedSend, receiveAndReport, watchFault } from './transfer-agent.js';

const args = process.argv.slice(2);
let bytes = 8 * 1024 * 1024;
let rate = 4 * 1024 * 1024;
const hosts: string[] = [];
let lowPower = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--bytes') bytes = Number(args[++i]);
  else if (args[i] === '--low-power') lowPower = true;
  else if (args[i] === '--rate') rate = Number(args[++i]);
  else hosts.push(args[i]!);
}
if (hosts.length === 0) {
  console.error(
    'usage: failover-server.ts [--bytes N --rate R] [--low-power] HOST... (HOST all: every interface)',
  );
  process.exit(2);
}

const fault = watchFault();
// The test closes our stdin when it is done with us.
process.stdin.on('end', () => {
  void server.close(0, '', 200).finally(() => process.exit(0));
});

function serve(stream: Duplex): void {
  stream.once('readable', () => {
    const mode = stream.read(1) as Buffer | null;
    if (mode === null) {
      stream.once('readable', () => serve(stream));
      return;
    }
    if (mode.toString() === 'U') {
      receiveAndReport(stream, fault);
      return;
    }
    stream.resume(); // the client sends nothing more but its end
    pacedSend(stream, bytes, rate).then(
      (sent) => emit({ event: 'done', ...sent }),
      (error: Error) => emit({ event: 'error', message: error.message }),
    );
  });
}

const keyPair = generateKeyPair();
const server = createServer(
  { staticKey: keyPair, ...(lowPower ? { transport: LOW_POWER_TRANSPORT } : {}) },
  (session) => {
    session.on('stream', serve);
    session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
  },
);
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
await server.listen(hosts.length === 1 && hosts[0] === 'all' ? { port: 0 } : { hosts, port: 0 });
const addresses = () =>
  server
    .addresses()
    .map((a) => a.address)
    .sort();
emit({
  event: 'listening',
  port: server.address()!.port,
  key: Buffer.from(keyPair.publicKey).toString('hex'),
  addresses: addresses(),
});
// Interface discovery changes the bound set: report it, so tests can wait for it.
let last = addresses().join(',');
setInterval(() => {
  const now = addresses().join(',');
  if (now !== last) emit({ event: 'addresses', addresses: addresses() });
  last = now;
}, 20).unref();
