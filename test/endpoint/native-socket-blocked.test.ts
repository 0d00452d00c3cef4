/**
 * The native back-end when the kernel refuses a send for now (EAGAIN): the rest of the batch
 * is queued in order, `blocked` tells the shell to stop producing, onWritable follows once the
 * queue has drained, and closing with sends still queued drops them as counted datagrams.
 * Loopback never pushes back, so the socket sends through a rate-limited (tbf) veth link in a
 * network namespace of its own (root needed; the packets stay inside the namespace).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const skip =
  process.platform !== 'linux' || process.env.BRAID_NATIVE_UDP === '0'
    ? 'the native back-end is Linux-only (or BRAID_NATIVE_UDP=0)'
    : process.getuid?.() !== 0
      ? 'needs root for a network namespace'
      : false;

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr}`);
}

/** Runs in the namespace: fills the link until EAGAIN, waits for the drain, fills again, closes. */
const AGENT = `
  import { openDatagramSocket } from './src/endpoint/open-socket.ts';
  const noop = () => {};
  let writable = 0;
  const errors = [];
  let onWritable = noop;
  const socket = await openDatagramSocket('native', { host: '198.51.100.1', port: 0, ipv6Only: false, bufferSize: 4096,
    handlers: { onDatagram: noop, onReadDone: noop, onSocketError: noop,
      onWritable: () => { writable++; onWritable(); }, onSendError: (code, count) => errors.push({ code, count }) } });
  const remote = { address: '198.51.100.9', port: 9, family: 'IPv4' };
  const batch = Buffer.alloc(54 * 1200);
  const fill = () => { let sends = 0; while (!socket.blocked && sends < 10000) { socket.send(batch, 0, batch.length, 1200, remote); sends++; } return sends; };
  const first = fill();
  const blockedAfterFill = socket.blocked;
  const queued = socket.stats().pendingBytes;
  await new Promise((resolve) => { onWritable = resolve; });
  const drained = { blocked: socket.blocked, ...socket.stats() };
  fill();
  // Two more sends while blocked: they queue behind the first, in order.
  socket.send(batch, 0, batch.length, 1200, remote);
  socket.send(batch, 0, 600, 0, remote);
  const beforeClose = socket.stats();
  socket.close();
  console.log(JSON.stringify({ first, blockedAfterFill, queued, writable, drained, beforeClose, afterClose: socket.stats(), errors }));
`;

test('EAGAIN: queued in order, blocked until onWritable, drained without loss; close drops what is still queued, counted', {
  skip,
  timeout: 60_000,
}, () => {
  const ns = `braid-tput-${process.pid}`;
  ip('netns', 'add', ns);
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'add', 'name', 'tput0', 'type', 'veth', 'peer', 'name', 'tput1');
    ip('-n', ns, 'link', 'set', 'tput0', 'up');
    ip('-n', ns, 'link', 'set', 'tput1', 'up');
    ip('-n', ns, 'addr', 'add', '198.51.100.1/24', 'dev', 'tput0');
    // A fixed neighbour: no ARP, the datagrams just queue in the shaper and leave into the peer.
    ip('-n', ns, 'neigh', 'add', '198.51.100.9', 'lladdr', '02:00:00:00:00:09', 'dev', 'tput0');
    const tc = spawnSync('tc', [
      '-n',
      ns,
      'qdisc',
      'add',
      'dev',
      'tput0',
      'root',
      'tbf',
      'rate',
      '20mbit',
      'burst',
      '3000',
      'limit',
      '3000000',
    ]);
    assert.equal(tc.status, 0, String(tc.stderr));
    const run = spawnSync(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', AGENT],
      { cwd: new URL('../..', import.meta.url), encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(
      run.status,
      0,
      `agent failed (exit ${run.status}, ${run.signal}): ${run.stdout}${run.stderr}`,
    );
    const r = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    assert.ok(r.blockedAfterFill, 'the shaped link never pushed back');
    assert.ok(r.queued > 0, 'nothing queued while blocked');
    assert.equal(r.writable >= 1, true, 'no onWritable after the drain');
    assert.equal(r.drained.blocked, false);
    assert.equal(r.drained.pendingBytes, 0, 'queue not empty after onWritable');
    assert.equal(r.drained.pendingDrops, 0, 'a queued datagram was dropped before close');
    assert.ok(
      r.beforeClose.queuedSends >= 3,
      `sends queued behind the blocked one: ${r.beforeClose.queuedSends}`,
    );
    // Everything still queued at close is counted: at least the 54 + 1 datagrams queued last.
    assert.ok(r.afterClose.pendingDrops >= 55, `pending drops ${r.afterClose.pendingDrops}`);
    assert.equal(r.afterClose.pendingBytes, 0);
    assert.deepEqual(r.errors, [], 'a refusal was reported as an error instead of queued');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
