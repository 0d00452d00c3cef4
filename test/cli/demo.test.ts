// `braid demo`: the multihoming failover tour runs unprivileged on loopback (two server
// addresses, two client addresses, the active pair blackholed mid-transfer in-process).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeHome, runBraid } from './helpers.js';

const home = makeHome();
after(() => home.cleanup());

test('braid demo fails over to the standby path and reports it', async () => {
  const out = join(home.dir, 'demo');
  const result = await runBraid(['demo', '--mib', '8', '--out', out], home.env, { timeoutMs: 40_000 });
  assert.equal(result.code, 0, `exit code\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  const stdout = result.stdout;
  assert.match(stdout, /equal at both ends/);
  assert.match(stdout, /moved\s+8\.00 MiB/);
  // The fault hit the active pair and the session moved to the other addresses.
  assert.match(stdout, /fault\s+blackholed 127\.0\.0\.3 ⇄ 127\.0\.0\.1/);
  assert.match(stdout, /active on path \d+ 127\.0\.0\.4:\d+ → 127\.0\.0\.2:\d+/);
  const gap = /failover gap (\d+) ms/.exec(stdout);
  assert.ok(gap, `a failover gap is reported:\n${stdout}`);
  const gapMs = Number(gap[1]);
  // Failure is declared after 2 consecutive PTOs: well under a second on loopback.
  assert.ok(gapMs > 0 && gapMs < 2000, `failover gap ${gapMs} ms`);
  console.log(`braid demo failover gap: ${gapMs} ms`);

  const reportPath = /report\s+(\S+)/.exec(stdout)?.[1];
  assert.equal(reportPath, join(out, 'report.html'));
  assert.ok(existsSync(reportPath), 'the HTML report exists');
  const html = readFileSync(reportPath, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /127\.0\.0\.4:\d+ → 127\.0\.0\.2:\d+/, 'the report shows the standby path');
  const events = readFileSync(join(out, 'events.jsonl'), 'utf8');
  assert.match(events, /"name":"braid:path:failover"/);
  assert.match(events, /"name":"braid:path:failed"/);
});

test('braid demo rejects a bad option with its usage', async () => {
  const result = await runBraid(['demo', '--fault-at', '200'], home.env);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--fault-at needs a number/);
  assert.match(result.stderr, /usage: braid demo/);
});
