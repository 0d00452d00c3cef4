// Lab failover client: connects (from every interface address by default, or a given list),
// waits for a warm standby, then moves BYTES of random data on one stream at RATE bytes/s,
// uploading (it sends, the server hashes) or downloading (the server sends, it hashes).
// The stream's first byte tells the server which: 'U' or 'D'.
// JSON lines on stdout: {event:'ready', active, standby} once a standby is validated (or after
// STANDBY_WAIT_MS without one); {event:'path', at, id, local, remote, state} for every path
// change; upload: {event:'midway', at} at a quarter (the cue for the fault) and
// {event:'done', bytes, sha256, seconds, paths} at the end; download: {event:'received', bytes,
// sha256, gapMs, gapFromStartMs, paths} (the fault instant arrives on stdin, see watchFault).
// Usage: failover-client.ts SERVER PORT KEYHEX LOCALS BYTES RATE [up|down]
//   LOCALS: 'all' (interface discovery, the default of connect()), 'all:v4' / 'all:v6' (one
//   family only), or a comma-separated list of local addresses.
import { connect } from '../../src/api/connect.js';
import type { PathInfo } from '../../src/engine/types.js';
import { emit, pacedSend, receiveAndReport, wallNow, watchFault } from './transfer-agent.js';

const [host, portText, keyHex, localsText, bytesText, rateText, direction = 'up'] = process.argv.slice(2);
if (!rateText || (direction !== 'up' && direction !== 'down')) {
  console.error('usage: failover-client.ts SERVER PORT KEYHEX LOCALS BYTES RATE [up|down]');
  process.exit(2);
}
const total = Number(bytesText);
const bytesPerSecond = Number(rateText);
const STANDBY_WAIT_MS = Number(process.env.STANDBY_WAIT_MS ?? 5000);

const describePath = (p: PathInfo | undefined) =>
  p && { id: p.id, local: p.local.address, remote: p.remote.address, state: p.state };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fault = direction === 'down' ? watchFault() : undefined;

const discovery = /^all(?::(v4|v6))?$/.exec(localsText!);
const session = await connect(
  { host: host!, port: Number(portText) },
  {
    serverKey: Buffer.from(keyHex!, 'hex'),
    ...(discovery
      ? discovery[1] && { addressDiscovery: { families: [discovery[1] === 'v4' ? 'IPv4' : 'IPv6'] } }
      : { localAddresses: localsText!.split(',') }),
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
if (direction === 'up') {
  stream.write('U');
  const sent = await pacedSend(stream, total, bytesPerSecond);
  emit({ event: 'done', ...sent, paths: session.paths.map(describePath) });
} else {
  stream.write('D');
  const finished = new Promise((resolve) => stream.once('finish', resolve));
  receiveAndReport(stream, fault!, { paths: () => session.paths.map(describePath) });
  await finished;
  // Our FIN must reach the server (its sender waits for it) before the CLOSE ends everything.
  await sleep(200);
}
await session.close().catch(() => undefined);
process.exit(0);
