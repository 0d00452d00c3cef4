// `braid demo` without root: two loopback address pairs in one process, the active pair
// blackholed in-process, a one-line reason for not using namespaces. As root the test drops
// to the nobody user (setpriv), so the fallback is the real one a newcomer without root sees.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeHome, runBraid } from '../../testing/harness/braid-command.js';

const home = makeHome();
after(() => home.cleanup());

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const canDrop = isRoot && spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;

test('without root, braid demo says why and fails over between loopback address pairs', {
  skip: isRoot && !canDrop ? 'root without setpriv: cannot run the unprivileged variant' : false,
}, async () => {
  const out = join(home.dir, 'demo');
  let wrapper: string[] = [];
  let env = home.env;
  if (canDrop) {
    // nobody must be able to enter the home and write the output there.
    chmodSync(home.dir, 0o755);
    mkdirSync(out, { recursive: true });
    chmodSync(out, 0o777);
    wrapper = ['setpriv', '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups'];
    env = { ...home.env, HOME: out, XDG_CONFIG_HOME: out, XDG_RUNTIME_DIR: join(out, 'run') };
  }
  const result = await runBraid(['demo', '--mib', '8', '--out', out], env, { timeoutMs: 40_000, wrapper });
  assert.equal(result.code, 0, `exit code\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  const stdout = result.stdout;
  assert.match(
    stdout.split('\n')[0]!,
    /^demo {4}loopback addresses instead of network namespaces: not root \(network namespaces need root: sudo npm run demo\)$/,
  );
  assert.match(stdout, /equal at both ends/);
  assert.match(stdout, /moved\s+8\.00 MiB/);
  // The fault hit the active pair (whichever it was by then: under load an event-loop stall can
  // move the session earlier) and the client moved to a pair the blackhole does not touch.
  const fault = /fault {3}blackholed (127\.0\.0\.[34]) ⇄ (127\.0\.0\.[12]) inside the process/.exec(stdout);
  assert.ok(fault, stdout);
  const [, faultLocal, faultRemote] = fault;
  assert.match(stdout, /failover {2}the (client|server) found path \d+ \S+ → \S+ failed \(unresponsive\)/);
  const moved = /client {4}active on path \d+ (127\.0\.0\.[34]):\d+ → (127\.0\.0\.[12]):\d+/.exec(stdout);
  assert.ok(moved, stdout);
  assert.ok(moved[1] !== faultLocal || moved[2] !== faultRemote, `moved off the blackholed pair:\n${stdout}`);
  const gap = /failover gap (\d+) ms/.exec(stdout);
  assert.ok(gap, `a failover gap is reported:\n${stdout}`);
  const gapMs = Number(gap[1]);
  // Failure is declared after 2 consecutive PTOs: well under a second on loopback.
  assert.ok(gapMs > 0 && gapMs < 2000, `failover gap ${gapMs} ms`);
  console.log(`braid demo (loopback) failover gap: ${gapMs} ms`);

  const reportPath = /report\s+(\S+)/.exec(stdout)?.[1];
  assert.equal(reportPath, join(out, 'report.html'));
  assert.ok(existsSync(reportPath), 'the HTML report exists');
  const html = readFileSync(reportPath, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /127\.0\.0\.4:\d+ → 127\.0\.0\.2:\d+/, 'the report shows the standby path');
  assert.match(html, /class="failover-mark"/, 'the engine failover is marked');
  assert.match(html, /class="failover-gap"/, 'the measured gap is shaded');
  const events = readFileSync(join(out, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { name: string; data: Record<string, unknown> });
  // Whichever end found the path dead first reported it (the other may just follow).
  const failover = events.find((e) => e.name === 'braid:path:failover' && e.data.reason !== 'peer-moved');
  assert.ok(failover, 'an engine reported the failover');
  assert.equal(failover.data.reason, 'unresponsive');
  const d = failover.data;
  assert.ok(d.fromLocal !== d.toLocal || d.fromRemote !== d.toRemote, 'the failover moved to another pair');
  assert.ok(events.some((e) => e.name === 'braid:path:failed'));
  assert.ok(events.some((e) => e.name === 'braid:demo:fault_injected'));
  assert.ok(events.some((e) => e.name === 'braid:demo:delivery_gap' && e.data.session === 2));
});

test('braid demo rejects bad options with its usage', async () => {
  const [range, both, kind] = await Promise.all([
    runBraid(['demo', '--fault-at', '200'], home.env),
    runBraid(['demo', '--netns', '--loopback'], home.env),
    runBraid(['demo', '--fault', 'meteor'], home.env),
  ]);
  assert.equal(range.code, 2);
  assert.match(range.stderr, /--fault-at needs a number in \[1, 95\], got '200'/);
  assert.match(range.stderr, /usage: braid demo/);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give --netns or --loopback, not both/);
  assert.equal(kind.code, 2);
  assert.match(kind.stderr, /--fault is blackhole or link-down, got 'meteor'/);
});
