// MPTCP baseline receiver (run under `mptcpize run`), a plain Node TCP socket that receives the
// first connection like the Braid agent it is compared with:
// - `gap` (bench failover): hashes the bytes and measures the failover gap, same JSON-lines
//   protocol as testing/agents/failover-server.ts (stdin {faultStart, faultEnd});
// - `goodput WARMUP WINDOW` (bench aggregate): hashes the bytes and measures goodput like
//   bench/lab-aggregate/braid-receiver.ts.
// It listens on the wildcard address (an MP_JOIN needs a listener on the address it joins), or,
// for downloads, `connect SERVER PORT gap` dials a `tcp-sender.ts listen` in the server namespace
// and receives what that connection brings.
// stdout: {event:'listening', port} or {event:'connected', local, remote}, then
// {event:'received', bytes, sha256, ...}.
// Usage: tcp-receiver.ts gap | tcp-receiver.ts goodput WARMUP_SECONDS WINDOW_SECONDS |
//        tcp-receiver.ts connect SERVER PORT gap
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { emit, receiveAndReport, watchFault } from '../../testing/agents/transfer-agent.js';
import { goodputReceiver } from '../lab-aggregate/goodput.js';

const USAGE =
  'usage: tcp-receiver.ts gap | tcp-receiver.ts goodput WARMUP_SECONDS WINDOW_SECONDS | tcp-receiver.ts connect SERVER PORT gap';
const args = process.argv.slice(2);
const dial = args[0] === 'connect' ? { host: args[1], port: Number(args[2]) } : undefined;
const [mode, warmup, window] = dial ? args.slice(3) : args;
if (dial && (!dial.host || !(dial.port > 0) || mode !== 'gap')) {
  console.error(USAGE);
  process.exit(2);
}
let receive: (socket: Socket) => void;
if (mode === 'gap') {
  const fault = watchFault();
  receive = (socket) => receiveAndReport(socket, fault);
} else if (mode === 'goodput' && window !== undefined) {
  process.stdin.resume();
  receive = (socket) => goodputReceiver(socket, Number(warmup), Number(window));
} else {
  console.error(USAGE);
  process.exit(2);
}
process.stdin.on('end', () => process.exit(0));

if (dial) {
  const socket = connect({ host: dial.host!, port: dial.port, noDelay: true });
  socket.on('error', (error: Error) => {
    emit({ event: 'error', message: error.message });
    process.exit(1);
  });
  await once(socket, 'connect');
  emit({ event: 'connected', local: socket.localAddress, remote: socket.remoteAddress });
  receive(socket);
} else {
  const server = createServer((socket) => receive(socket));
  server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
  server.listen({ host: '::', port: 0 }, () => {
    const address = server.address();
    emit({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  });
}
