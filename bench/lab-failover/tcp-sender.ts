// MPTCP baseline sender (run under `mptcpize run`): connects with a plain Node TCP socket, waits
// for a 'go' line on stdin (the bench first checks that the subflows exist), then sends BYTES of
// random data at RATE bytes/s exactly as test/lab/failover-client.ts paces Braid.
// stdout: {event:'connected', local, remote}, {event:'midway', at, written} at a quarter,
// {event:'done', bytes, sha256, seconds} once the receiver has closed its side.
// Usage: tcp-sender.ts SERVER PORT BYTES RATE
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { emit, pacedSend } from '../../test/lab/transfer-agent.js';

const [host, portText, bytesText, rateText] = process.argv.slice(2);
if (!rateText) {
  console.error('usage: tcp-sender.ts SERVER PORT BYTES RATE');
  process.exit(2);
}
const total = Number(bytesText);
const bytesPerSecond = Number(rateText);

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

emit({ event: 'done', ...(await pacedSend(socket, total, bytesPerSecond)) });
process.exit(0);
