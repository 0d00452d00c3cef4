// Lab sender for the persistence test and `bench resume`: connects from several local addresses
// with a short failure timeout (so a total outage suspends the session), then sends BYTES of
// random data at RATE bytes/s on one stream, hashing what it writes.
// JSON lines on stdout: {event:'ready'}; {event:'midway', at} at a quarter (the cue for the
// outage); {event:'suspended' | 'resumed', at}; {event:'done', bytes, sha256, seconds, resumptions}.
// Usage: resume-client.ts SERVER PORT KEYHEX LOCAL1,LOCAL2 BYTES RATE IDLE_TIMEOUT_MS
import { connect } from '../../src/api/connect.js';
import { emit, pacedSend, wallNow } from './transfer-agent.js';

const [host, portText, keyHex, localsText, bytesText, rateText, idleText] = process.argv.slice(2);
if (!idleText) {
  console.error('usage: resume-client.ts SERVER PORT KEYHEX LOCAL1,LOCAL2 BYTES RATE IDLE_TIMEOUT_MS');
  process.exit(2);
}

const session = await connect(
  { host: host!, port: Number(portText) },
  {
    serverKey: Buffer.from(keyHex!, 'hex'),
    localAddresses: localsText!.split(','),
    timeout: 5000,
    transport: { idleTimeout: Number(idleText) },
  },
);
session.on('suspended', () => emit({ event: 'suspended', at: wallNow() }));
session.on('resumed', () => emit({ event: 'resumed', at: wallNow() }));
session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
// The server suspends only confirmed sessions: give the first 1-RTT packets a moment.
await new Promise((r) => setTimeout(r, 300));
emit({ event: 'ready' });

const stream = await session.openStream();
stream.write('U'); // failover-server.ts: an upload to hash
const sent = await pacedSend(stream, Number(bytesText), Number(rateText));
emit({ event: 'done', ...sent, resumptions: session.stats.resumptions });
await session.close().catch(() => undefined);
process.exit(0);
