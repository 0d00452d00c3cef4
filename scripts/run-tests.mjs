#!/usr/bin/env node
// Runs every test file under test/ with node:test and the tsx loader.
// `--soak` also runs the long simulator soak (test/**/*.soak.ts); extra args filter files by substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const soak = args.includes('--soak');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (soak ? p.endsWith('.soak.ts') : p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = walk('test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.BRAID_TEST_CONCURRENCY ?? '2';
// Files that run alone, after the rest, one by one: the impairment element's calibration offers
// 200 Mbit/s through the lab and times delays to a fraction of a millisecond, and the curl
// tunnel tests count path switches of real sessions moving bulk data for about two minutes, so a
// neighbour's load would spoil their measurements and their traffic would slow the neighbour.
// The ssh ProxyCommand test times its output across a blackhole with a real ssh and sshd.
const EXCLUSIVE = [
  'test/lab/impairment.test.ts',
  'test/lab/tunnel-switches.test.ts',
  'test/lab/ssh-proxycommand.test.ts',
];
const exclusive = files.filter((f) => EXCLUSIVE.includes(f));
const shared = files.filter((f) => !EXCLUSIVE.includes(f));

// --test-force-exit: a file whose tests have all ended exits even if a test that timed out left
// a socket or timer open; without it that file's process, and so the whole run, never ends.
function run(group, groupConcurrency) {
  if (group.length === 0) return 0;
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-force-exit',
      `--test-concurrency=${groupConcurrency}`,
      '--test-reporter=spec',
      ...group,
    ],
    { stdio: 'inherit' },
  );
  return result.status ?? 1;
}

const sharedStatus = run(shared, concurrency);
const exclusiveStatus = run(exclusive, '1');
process.exit(sharedStatus || exclusiveStatus);
