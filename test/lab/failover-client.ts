// Lab failover sender: connects from several local addresses, waits for a warm standby, then
// sends BYTES of random data on one stream at RATE bytes/s, hashing what it writes.
// JSON lines on stdout: {event:'ready', active, standby} once a standby is validated;
// {event:'midway', at} when a quarter of the bytes is written (the cue for the fault);
// {event:'path', at, id, local, remote, state} for every path change;
// {event:'done', bytes, sha256, paths} once the server has echoed the end of the stream.
// Usage: failover-client.ts SERVER PORT KEYHEX LOCAL1,LOCAL2 BYTES RATE
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from '../../src/api/connect.js';
import type { PathInfo } from '../../src/engine/types.js';

const [host, portText, keyHex, localsText, bytesText, rateText] = process.argv.slice(2);
if (!rateText) {
  console.error('usage: failover-client.ts SERVER PORT KEYHEX LOCAL1,LOCAL2 BYTES RATE');
  process.exit(2);
}
const total = Number(bytesText);
const bytesPerSecond = Number(rateText);
const CHUNK = 16 * 1024;
const STANDBY_WAIT_MS = 5000;

const wallNow = (): number => performance.timeOrigin + performance.now();
const emit = (message: object): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};
const describePath = (p: PathInfo | undefined) =>
  p && { id: p.id, local: p.local.address, remote: p.remote.address, state: p.state };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const session = await connect(
  { host: host!, port: Number(portText) },
  {
    serverKey: Buffer.from(keyHex!, 'hex'),
    localAddresses: localsText!.split(','),
    timeout: 5000,
  },
);
session.on('path', (path: PathInfo) => emit({ event: 'path', at: wallNow(), ...describePath(path) }));
session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));

const standbyDeadline = Date.now() + STANDBY_WAIT_MS;
while (!session.paths.some((p) => p.state === 'standby') && Date.now() < standbyDeadline) await sleep(10);
emit({
  event: 'ready',
  active: describePath(session.paths.find((p) => p.state === 'active')),
  standby: describePath(session.paths.find((p) => p.state === 'standby')),
});

const stream = await session.openStream();
const hash = createHash('sha256');
const started = Date.now();
let written = 0;
let announcedMidway = false;
while (written < total) {
  // Pace to the rate so the fault lands mid-transfer rather than after the buffers filled.
  const ahead = written / bytesPerSecond - (Date.now() - started) / 1000;
  if (ahead > 0) await sleep(ahead * 1000);
  const chunk = randomBytes(Math.min(CHUNK, total - written));
  hash.update(chunk);
  written += chunk.length;
  if (!stream.write(chunk)) await once(stream, 'drain');
  if (!announcedMidway && written >= total / 4) {
    announcedMidway = true;
    emit({ event: 'midway', at: wallNow(), written });
  }
}
stream.end();
stream.resume();
await once(stream, 'end');
emit({
  event: 'done',
  bytes: written,
  sha256: hash.digest('hex'),
  seconds: (Date.now() - started) / 1000,
  paths: session.paths.map(describePath),
});
await session.close().catch(() => undefined);
process.exit(0);
