// MPTCP baseline sender for the aggregate bench (run under `mptcpize run`): connects, waits for a
// 'go' line on stdin (the bench first checks with `ss -tin` that the subflows exist), then sends
// random bytes for SECONDS as fast as the socket takes them, like braid-sender.ts.
// stdout: {event:'connected', local, remote}, {event:'done', bytes, sha256, seconds, cpu}.
// Usage: tcp-sender.ts SERVER PORT SECONDS
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { emit } from '../../test/lab/transfer-agent.js';
import { timedSend } from './goodput.js';

const [host, portText, secondsText] = process.argv.slice(2);
if (!secondsText) {
  console.error('usage: tcp-sender.ts SERVER PORT SECONDS');
  process.exit(2);
}
const go = new Promise<void>((resolve) => {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.includes('"go"')) resolve();
  });
});
const socket = connect({ host: host!, port: Number(portText), noDelay: true });
socket.on('error', (error: Error) => {
  emit({ event: 'error', message: error.message });
  process.exit(1);
});
await once(socket, 'connect');
emit({ event: 'connected', local: socket.localAddress, remote: socket.remoteAddress });
await go;
emit({ event: 'done', ...(await timedSend(socket, Number(secondsText))) });
process.exit(0);
