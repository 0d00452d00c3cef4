// Lab failover receiver: a Braid server on the given hosts that hashes every stream it receives.
// Speaks JSON lines: stdout {event:'listening', port, key} then {event:'received', bytes, sha256,
// gapMs, gapFromStartMs} per finished stream; stdin {faultStart, faultEnd} (epoch ms) brackets the
// lab command that applied the fault, so it can measure the failover gap from its own arrival times.
// Usage: failover-server.ts HOST [HOST...]
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { createServer } from '../../src/api/server.js';
import { emit, receiveAndReport, watchFault } from './transfer-agent.js';

const hosts = process.argv.slice(2);
if (hosts.length === 0) {
  console.error('usage: failover-server.ts HOST [HOST...]');
  process.exit(2);
}

const fault = watchFault();
// The test closes our stdin when it is done with us.
process.stdin.on('end', () => {
  void server.close(0, '', 200).finally(() => process.exit(0));
});

const keyPair = generateKeyPair();
const server = createServer({ staticKey: keyPair }, (session) => {
  session.on('stream', (stream) => receiveAndReport(stream, fault));
  session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
});
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
await server.listen({ hosts, port: 0 });
emit({
  event: 'listening',
  port: server.address()!.port,
  key: Buffer.from(keyPair.publicKey).toString('hex'),
});
