// WAN bench client (bench/wan.ts): a Braid session with default settings from the given local
// addresses to testing/agents/failover-server.ts, one upload stream ('U'), and a traffic pattern
// for SECONDS, counting the times the active path changes (a failover when nothing failed is
// spurious):
// - `bulk SECONDS RATE`: RATE bytes/s in 16 KiB writes;
// - `interactive SECONDS`: one 100-byte write every 50 ms (a terminal, a game);
// - `idle SECONDS`: one byte, then nothing (the keepalive cost of an open stream).
// stdout: {event:'ready', active}, {event:'path', at, id, local, remote, state} per change,
// {event:'idle-start', at} (idle: once the handshake traffic settled), {event:'done', bytes,
// sha256, seconds, switches, paths}.
// --low-power (anywhere): LOW_POWER_TRANSPORT's keepalive settings (the server must use them too).
// Usage: session-client.ts SERVER PORT KEYHEX LOCALS bulk|interactive|idle SECONDS [RATE] [--low-power]
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from '../../src/api/connect.js';
import type { PathInfo } from '../../src/engine/types.js';
import { LOW_POWER_TRANSPORT } from '../../src/index.js';
import { emit, wallNow } from '../../testing/agents/transfer-agent.js';

const argv = process.argv.slice(2);
const lowPower = argv.includes('--low-power');
const [host, portText, keyHex, localsText, mode, secondsText, rateText] = argv.filter(
  (a) => a !== '--low-power',
);
const seconds = Number(secondsText);
if (!localsText || !['bulk', 'interactive', 'idle'].includes(mode ?? '') || !(seconds > 0)) {
  console.error(
    'usage: session-client.ts SERVER PORT KEYHEX LOCALS bulk|interactive|idle SECONDS [RATE] [--low-power]',
  );
  process.exit(2);
}
const INTERACTIVE_BYTES = 100;
const INTERACTIVE_INTERVAL_MS = 50;
const BULK_CHUNK = 16 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const describePath = (p: PathInfo | undefined) =>
  p && { id: p.id, local: p.local.address, remote: p.remote.address, state: p.state };

const session = await connect(
  { host: host!, port: Number(portText) },
  {
    serverKey: Buffer.from(keyHex!, 'hex'),
    localAddresses: localsText.split(','),
    timeout: 5000,
    ...(lowPower ? { transport: LOW_POWER_TRANSPORT } : {}),
  },
);
let activeId = session.paths.find((p) => p.state === 'active')?.id;
let switches = 0;
session.on('path', (path: PathInfo) => {
  emit({ event: 'path', at: wallNow(), ...describePath(path) });
  if (path.state === 'active' && path.id !== activeId) {
    if (activeId !== undefined) switches++;
    activeId = path.id;
  }
});
session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
emit({ event: 'ready', active: describePath(session.paths.find((p) => p.state === 'active')) });

const stream = await session.openStream();
const hash = createHash('sha256');
let bytes = 0;
const write = async (chunk: Buffer) => {
  hash.update(chunk);
  bytes += chunk.length;
  if (!stream.write(chunk)) await once(stream, 'drain');
};
// The server reads the first byte as the stream's kind and hashes what follows.
stream.write('U');
const started = Date.now();
const end = started + seconds * 1000;
if (mode === 'idle') {
  await sleep(1000);
  emit({ event: 'idle-start', at: wallNow() });
  await sleep(Math.max(0, end - Date.now()));
} else if (mode === 'interactive') {
  for (let next = started; next < end; next += INTERACTIVE_INTERVAL_MS) {
    await sleep(Math.max(0, next - Date.now()));
    await write(randomBytes(INTERACTIVE_BYTES));
  }
} else {
  const rate = Number(rateText);
  if (!(rate > 0)) throw new Error('bulk needs RATE bytes/s');
  while (Date.now() < end) {
    const ahead = bytes / rate - (Date.now() - started) / 1000;
    if (ahead > 0) await sleep(ahead * 1000);
    await write(randomBytes(BULK_CHUNK));
  }
}
emit({ event: 'idle-end', at: wallNow() });
stream.end();
stream.resume();
await once(stream, 'end');
emit({
  event: 'done',
  bytes,
  sha256: hash.digest('hex'),
  seconds: (Date.now() - started) / 1000,
  switches,
  paths: session.paths.map(describePath),
});
await session.close().catch(() => undefined);
process.exit(0);
