// MPTCP baseline receiver for the aggregate bench (run under `mptcpize run`): a plain Node TCP
// server on the wildcard address (an MP_JOIN needs a listener on the address it joins) that
// measures the goodput of the first connection like braid-receiver.ts.
// Usage: tcp-receiver.ts WARMUP_SECONDS WINDOW_SECONDS
import { createServer } from 'node:net';
import { emit } from '../../test/lab/transfer-agent.js';
import { goodputReceiver } from './goodput.js';

const warmup = Number(process.argv[2] ?? '2');
const window = Number(process.argv[3] ?? '5');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
const server = createServer((socket) => goodputReceiver(socket, warmup, window));
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
server.listen({ host: '::', port: 0 }, () => {
  const address = server.address();
  emit({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
