// MPTCP baseline sender (run under `mptcpize run`): connects with a plain Node TCP socket, waits
// for a 'go' line on stdin (the bench first checks that the subflows exist), then sends BYTES of
// random data at RATE bytes/s exactly as test/lab/failover-client.ts paces Braid.
// stdout: {event:'connected', local, remote}, {event:'midway', at, written} at a quarter,
// {event:'done', bytes, sha256, seconds} once the receiver has closed its side.
// Usage: tcp-sender.ts SERVER PORT BYTES RATE
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const [host, portText, bytesText, rateText] = process.argv.slice(2);
if (!rateText) {
  console.error('usage: tcp-sender.ts SERVER PORT BYTES RATE');
  process.exit(2);
}
const total = Number(bytesText);
const bytesPerSecond = Number(rateText);
const CHUNK = 16 * 1024;

const wallNow = (): number => performance.timeOrigin + performance.now();
const emit = (message: object): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

const hash = createHash('sha256');
const started = Date.now();
let written = 0;
let announcedMidway = false;
while (written < total) {
  const ahead = written / bytesPerSecond - (Date.now() - started) / 1000;
  if (ahead > 0) await sleep(ahead * 1000);
  const chunk = randomBytes(Math.min(CHUNK, total - written));
  hash.update(chunk);
  written += chunk.length;
  if (!socket.write(chunk)) await once(socket, 'drain');
  if (!announcedMidway && written >= total / 4) {
    announcedMidway = true;
    emit({ event: 'midway', at: wallNow(), written });
  }
}
socket.end();
socket.resume();
await once(socket, 'end');
emit({ event: 'done', bytes: written, sha256: hash.digest('hex'), seconds: (Date.now() - started) / 1000 });
process.exit(0);
