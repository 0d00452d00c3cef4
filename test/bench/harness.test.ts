import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { measureRawUdp, measureRawUdpNative, windowFor } from '../../bench/baselines/raw-udp.js';
import { measureUdx } from '../../bench/baselines/udx.js';
import { ChildRunError, repoRoot, runInChild } from '../../bench/lib/child.js';
import { dispatch, EXIT_FAILED, EXIT_OK, EXIT_USAGE, listBenches } from '../../bench/lib/dispatch.js';
import { Mailbox, MailboxClosedError, MailboxTimeoutError } from '../../bench/lib/mailbox.js';
import { result } from '../../bench/lib/result.js';
import { timeBoxed } from '../../bench/lib/timing.js';
import { median, percentile, round, summarize } from '../../testing/harness/stats.js';

const scratch = mkdtempSync(join(tmpdir(), 'braid-bench-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function captureIo(): {
  out: string[];
  err: string[];
  io: { stdout: (t: string) => void; stderr: (t: string) => void };
} {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t) } };
}

describe('stats', () => {
  test('median of odd and even counts, independent of order', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  test('percentiles interpolate between ranks', () => {
    const values = [10, 20, 30, 40, 50];
    assert.equal(percentile(values, 0), 10);
    assert.equal(percentile(values, 100), 50);
    assert.equal(percentile(values, 25), 20);
    assert.equal(percentile(values, 90), 46);
    assert.equal(percentile([7], 99), 7);
  });

  test('empty input or out-of-range percentile gives NaN, not an exception', () => {
    assert.ok(Number.isNaN(median([])));
    assert.ok(Number.isNaN(percentile([1, 2], 101)));
    assert.ok(Number.isNaN(percentile([1, 2], -1)));
    assert.ok(Number.isNaN(summarize([]).mean));
  });

  test('summarize reports count, extremes, mean and tail', () => {
    const values = Array.from({ length: 101 }, (_, i) => 100 - i);
    assert.deepEqual(summarize(values), {
      count: 101,
      min: 0,
      max: 100,
      mean: 50,
      median: 50,
      p90: 90,
      p99: 99,
    });
  });

  test('round keeps significant digits', () => {
    assert.equal(round(123_456_789), 123_500_000);
    assert.equal(round(0.000123456, 2), 0.00012);
  });
});

describe('result convention', () => {
  test('ratio is value over the baseline, details are kept', () => {
    const r = result({
      name: 'goodput',
      value: 50,
      unit: 'bit/s',
      baseline: { name: 'raw', value: 200, unit: 'bit/s' },
      runs: 3,
    });
    assert.equal(r.ratio, 0.25);
    assert.equal(r.runs, 3);
    assert.deepEqual(r.baseline, { name: 'raw', value: 200, unit: 'bit/s' });
  });

  test('a zero baseline gives a NaN ratio; an explicit ratio wins', () => {
    const baseline = { name: 'raw', value: 0, unit: 'x' };
    assert.ok(Number.isNaN(result({ name: 'a', value: 1, unit: 'x', baseline }).ratio));
    assert.equal(result({ name: 'a', value: 1, unit: 'x', baseline, ratio: 3 }).ratio, 3);
  });
});

describe('timing and mailbox', () => {
  test('timeBoxed runs for at least the budget and counts every call', () => {
    let calls = 0;
    const stats = timeBoxed(
      () => {
        calls++;
      },
      { durationMs: 20, batch: 8 },
    );
    assert.equal(stats.iterations, calls);
    assert.equal(calls % 8, 0);
    assert.ok(stats.seconds >= 0.02);
    assert.ok(stats.perSecond > 0);
  });

  test('mailbox delivers in order, times out, and rejects after close', async () => {
    const box = new Mailbox();
    const waitingFirst = box.next();
    box.push(1);
    box.push(2);
    box.push(3);
    assert.equal(await waitingFirst, 1);
    assert.equal(await box.next(), 2);
    assert.equal(await box.next(), 3);
    await assert.rejects(box.next(5), MailboxTimeoutError);
    const waiting = box.next();
    box.close('done');
    await assert.rejects(waiting, MailboxClosedError);
    await assert.rejects(box.next(), MailboxClosedError);
  });
});

describe('dispatcher', () => {
  const benchDir = join(scratch, 'bench');
  mkdirSync(join(benchDir, 'baselines'), { recursive: true });
  writeFileSync(join(benchDir, 'index.ts'), '');
  writeFileSync(join(benchDir, 'types.d.ts'), '');
  writeFileSync(join(benchDir, 'ok.ts'), 'export async function run(args: string[]) { return { args }; }\n');
  writeFileSync(join(benchDir, 'norun.ts'), 'export const x = 1;\n');
  writeFileSync(join(benchDir, 'boom.ts'), "export async function run() { throw new Error('kaput'); }\n");
  writeFileSync(join(benchDir, 'baselines', 'floor.ts'), 'export async function run() { return {}; }\n');

  test('lists top-level benches, then baselines, skipping index and declarations', () => {
    assert.deepEqual(listBenches(benchDir), ['boom', 'norun', 'ok', 'baselines/floor']);
  });

  test('the repository lists both baselines', () => {
    const names = listBenches(resolve(repoRoot, 'bench'));
    assert.ok(names.includes('baselines/raw-udp'));
    assert.ok(names.includes('baselines/udx'));
    assert.ok(!names.includes('index'));
  });

  test('no name lists benches on stderr and succeeds', async () => {
    const { out, err, io } = captureIo();
    assert.equal(await dispatch([], benchDir, io), EXIT_OK);
    assert.deepEqual(out, []);
    assert.match(err.join(''), /available benches:[\s\S]*ok[\s\S]*baselines\/floor/);
  });

  test('unknown or path-like names exit 2 with a clear message', async () => {
    for (const name of ['nope', '../ok', 'index', 'lib/stats']) {
      const { out, err, io } = captureIo();
      assert.equal(await dispatch([name], benchDir, io), EXIT_USAGE);
      assert.deepEqual(out, []);
      assert.match(err.join(''), /unknown bench/);
    }
  });

  test('runs the bench with its args and prints only its JSON on stdout', async () => {
    const { out, io } = captureIo();
    assert.equal(await dispatch(['ok', '--size', '64'], benchDir, io), EXIT_OK);
    assert.deepEqual(JSON.parse(out.join('')), { args: ['--size', '64'] });
  });

  test('a module without run or a failing run exits 1', async () => {
    for (const name of ['norun', 'boom']) {
      const { out, err, io } = captureIo();
      assert.equal(await dispatch([name], benchDir, io), EXIT_FAILED);
      assert.deepEqual(out, []);
      assert.ok(err.join('').length > 0);
    }
  });

  test('npm run bench entry point exits 2 for an unknown name and keeps stdout clean', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/index.ts', 'no-such-bench'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(run.status, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /unknown bench 'no-such-bench'/);
  });
});

describe('child processes', () => {
  const fixture = join(scratch, 'child-fixture.ts');
  writeFileSync(
    fixture,
    [
      'export async function echo(input: unknown, channel: { post(d: unknown): void; next(): Promise<unknown> }) {',
      '  channel.post({ got: input });',
      '  const reply = await channel.next();',
      '  return { input, reply, pid: process.pid };',
      '}',
      "export async function fail() { throw new Error('child broke'); }",
      '',
    ].join('\n'),
  );

  test('runs a function in another process and exchanges messages', async () => {
    const child = runInChild<{ input: unknown; reply: unknown; pid: number }>(fixture, 'echo', { n: 1 });
    assert.deepEqual(await child.next(10_000), { got: { n: 1 } });
    child.post('hello');
    const value = await child.result;
    assert.deepEqual(value.input, { n: 1 });
    assert.equal(value.reply, 'hello');
    assert.notEqual(value.pid, process.pid);
  });

  test('an exception in the child rejects the result', async () => {
    await assert.rejects(runInChild(fixture, 'fail', null).result, (error: Error) => {
      assert.ok(error instanceof ChildRunError);
      assert.match(error.message, /child broke/);
      return true;
    });
  });

  test('a missing export rejects the result', async () => {
    await assert.rejects(runInChild(fixture, 'absent', null).result, /no exported function absent/);
  });
});

describe('baselines (short smoke runs)', () => {
  test('window fits the receive buffer and stays within bounds', () => {
    assert.equal(windowFor(1200, 8 * 1024 * 1024), 942);
    assert.equal(windowFor(64, 8 * 1024 * 1024), 1024);
    assert.equal(windowFor(1200, 425_984), 47);
    assert.equal(windowFor(65_507, 1000), 4);
  });

  test('raw UDP moves datagrams between processes and never over-counts', async () => {
    const raw = await measureRawUdp({ size: 512, durationMs: 300 });
    assert.ok(raw.received > 100, `received ${raw.received}`);
    assert.ok(raw.received <= raw.sent);
    assert.ok(raw.datagramsPerSec > 0);
    assert.ok(Math.abs(raw.bitsPerSec - raw.datagramsPerSec * 512 * 8) / raw.bitsPerSec < 0.01);
    await assert.rejects(measureRawUdp({ size: 70_000 }), RangeError);
  });

  test('raw UDP through the native batched back-end: batches arrive as datagrams, never over-counted', {
    skip: process.platform !== 'linux' || process.env.BRAID_NATIVE_UDP === '0',
  }, async () => {
    const raw = await measureRawUdpNative({ size: 1200, durationMs: 300 });
    assert.ok(raw.received > 100, `received ${raw.received}`);
    assert.ok(raw.received <= raw.sent, `received ${raw.received} of ${raw.sent}`);
    assert.equal(raw.sendErrors, 0);
    assert.ok(Math.abs(raw.bitsPerSec - raw.datagramsPerSec * 1200 * 8) / raw.bitsPerSec < 0.01);
  });

  test('udx delivers exactly the requested bytes', async () => {
    const udx = await measureUdx({ bytes: 4 * 1024 * 1024 + 123 });
    assert.equal(udx.bytes, 4 * 1024 * 1024 + 123);
    assert.ok(udx.seconds > 0);
    assert.ok(udx.bitsPerSec > 0);
    await assert.rejects(measureUdx({ bytes: 0 }), RangeError);
  });
});
