// Aggregate bench sender: connects from the given local addresses with a multipath policy,
// waits until it has PATHS validated paths, then sends random bytes for SECONDS as fast as the
// session takes them. stdout: {event:'ready', policy, paths}, then {event:'done', bytes, sha256,
// seconds, cpu, paths} (paths: local→remote, state and bytes sent of each). CONGESTION is the
// sender's congestion controller (default: the engine's).
// Usage: braid-sender.ts SERVER PORT KEYHEX LOCAL[,LOCAL...] POLICY PATHS SECONDS [CONGESTION]
import { connect } from '../../src/api/connect.js';
import type { MultipathPolicy, PathInfo } from '../../src/engine/types.js';
import type { CongestionControlKind } from '../../src/paths/congestion/index.js';
import { emit } from '../../testing/agents/transfer-agent.js';
import { timedSend } from './goodput.js';

const [host, portText, keyHex, localsText, policy, pathsText, secondsText, congestion] =
  process.argv.slice(2);
if (!secondsText) {
  console.error(
    'usage: braid-sender.ts SERVER PORT KEYHEX LOCAL[,LOCAL...] POLICY PATHS SECONDS [CONGESTION]',
  );
  process.exit(2);
}
const PATH_WAIT_MS = 5000;
const describe = (p: PathInfo) => ({
  path: `${p.local.address}->${p.remote.address}`,
  state: p.state,
  bytesSent: p.bytesSent,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const session = await connect(
  { host: host!, port: Number(portText) },
  {
    serverKey: Buffer.from(keyHex!, 'hex'),
    localAddresses: localsText!.split(','),
    multipath: { policy: policy as MultipathPolicy },
    timeout: 5000,
    ...(congestion ? { transport: { congestionControl: congestion as CongestionControlKind } } : {}),
  },
);
session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
const validated = () => session.paths.filter((p) => p.state === 'active' || p.state === 'standby').length;
const deadline = Date.now() + PATH_WAIT_MS;
while (validated() < Number(pathsText) && Date.now() < deadline) await sleep(10);
emit({ event: 'ready', policy: session.multipathPolicy, paths: session.paths.map(describe) });

const stream = await session.openStream();
const sent = await timedSend(stream, Number(secondsText));
emit({ event: 'done', ...sent, paths: session.paths.map(describe) });
await session.close().catch(() => undefined);
process.exit(0);
