// Lab failover sender: connects from several local addresses, waits for a warm standby, then
// sends BYTES of random data on one stream at RATE bytes/s, hashing what it writes.
// JSON lines on stdout: {event:'ready', active, standby} once a standby is validated;
// {event:'midway', at} when a quarter of the bytes is written (the cue for the fault);
// {event:'path', at, id, local, remote, state} for every path change;
// {event:'done', bytes, sha256, paths} once the server has echoed the end of the stream.
// Usage: failover-client.ts SERVER PORT KEYHEX LOCAL1,LOCAL2 BYTES RATE
import { connect } from '../../src/api/connect.js';
import type { PathInfo } from '../../src/engine/types.js';
import { emit, pacedSend, wallNow } from './transfer-agent.js';

const [host, portText, keyHex, localsText, bytesText, rateText] = process.argv.slice(2);
if (!rateText) {
  console.error('usage: failover-client.ts SERVER PORT KEYHEX LOCAL1,LOCAL2 BYTES RATE');
  process.exit(2);
}
const total = Number(bytesText);
const bytesPerSecond = Number(rateText);
const STANDBY_WAIT_MS = 5000;

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
const sent = await pacedSend(stream, total, bytesPerSecond);
emit({
  event: 'done',
  ...sent,
  paths: session.paths.map(describePath),
});
await session.close().catch(() => undefined);
process.exit(0);
