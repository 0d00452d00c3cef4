// Aggregate bench receiver: a Braid server on the given hosts measuring the goodput of every
// stream it receives (bench/lab-aggregate/goodput.ts). stdout: {event:'listening', port, key},
// then {event:'received', ...} per stream and {event:'policy', policy} per session.
// Usage: braid-receiver.ts WARMUP_SECONDS WINDOW_SECONDS HOST [HOST...]
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { createServer } from '../../src/api/server.js';
import { emit } from '../../testing/agents/transfer-agent.js';
import { goodputReceiver } from './goodput.js';

const [warmupText, windowText, ...hosts] = process.argv.slice(2);
if (hosts.length === 0) {
  console.error('usage: braid-receiver.ts WARMUP_SECONDS WINDOW_SECONDS HOST [HOST...]');
  process.exit(2);
}
process.stdin.on('end', () => {
  void server.close(0, '', 200).finally(() => process.exit(0));
});
process.stdin.resume();

const keyPair = generateKeyPair();
const server = createServer({ staticKey: keyPair }, (session) => {
  emit({ event: 'policy', policy: session.multipathPolicy });
  session.on('stream', (stream) => goodputReceiver(stream, Number(warmupText), Number(windowText)));
  session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
});
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
await server.listen({ hosts, port: 0 });
emit({
  event: 'listening',
  port: server.address()!.port,
  key: Buffer.from(keyPair.publicKey).toString('hex'),
});
