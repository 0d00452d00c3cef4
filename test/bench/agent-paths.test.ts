// The lab benches and tests start their agents as child processes by path (strings, not
// imports), so a moved agent breaks only that run, out of sight of the typechecker: `bench --
// resume` ran its TCP baseline from a deleted folder for a while. Every such path must exist.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

test('every script path a bench, a test, the test harness or the source starts as a child process exists', () => {
  const referenced = new Map<string, string>();
  for (const file of [...sources('bench'), ...sources('src'), ...sources('test'), ...sources('testing')]) {
    for (const [, path] of readFileSync(file, 'utf8').matchAll(
      /'((?:bench|testing|test|lab)\/[\w./-]+\.(?:ts|sh|mjs|js))'/g,
    ))
      referenced.set(path!, file);
  }
  assert.ok(referenced.size >= 5, `found ${referenced.size} script paths`);
  const missing = [...referenced]
    .filter(([path]) => !existsSync(path))
    .map(([path, file]) => `${path} (in ${file})`);
  assert.deepEqual(missing, []);
});
