// MPTCP baseline receiver (run under `mptcpize run`): a plain Node TCP server on the wildcard
// address (an MP_JOIN needs a listener on the address it joins) that receives the first
// connection like the Braid agent it is compared with:
// - `gap` (bench failover): hashes the bytes and measures the failover gap, same JSON-lines
//   protocol as testing/agents/failover-server.ts (stdin {faultStart, faultEnd});
// - `goodput WARMUP WINDOW` (bench aggregate): hashes the bytes and measures goodput like
//   bench/lab-aggregate/braid-receiver.ts.
// stdout: {event:'listening', port}, then {event:'received', bytes, sha256, ...}.
// Usage: tcp-receiver.ts gap | tcp-receiver.ts goodput WARMUP_SECONDS WINDOW_SECONDS
import { createServer, type Socket } from 'node:net';
import { emit, receiveAndReport, watchFault } from '../../testing/agents/transfer-agent.js';
import { goodputReceiver } from '../lab-aggregate/goodput.js';

const [mode, warmup, window] = process.argv.slice(2);
let receive: (socket: Socket) => void;
if (mode === 'gap') {
  const fault = watchFault();
  receive = (socket) => receiveAndReport(socket, fault);
} else if (mode === 'goodput' && window !== undefined) {
  process.stdin.resume();
  receive = (socket) => goodputReceiver(socket, Number(warmup), Number(window));
} else {
  console.error('usage: tcp-receiver.ts gap | tcp-receiver.ts goodput WARMUP_SECONDS WINDOW_SECONDS');
  process.exit(2);
}
process.stdin.on('end', () => process.exit(0));

const server = createServer((socket) => receive(socket));
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
server.listen({ host: '::', port: 0 }, () => {
  const address = server.address();
  emit({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
