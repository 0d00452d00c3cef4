/**
 * The repository is self-contained: a fresh clone in an empty directory passes its tests. No
 * test, harness, bench or script names a path outside the repository, whether relative
 * (`'../../../shared/…'` from a test file) or absolute to a sibling of the checkout.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCANNED = ['test', 'testing', 'bench', 'scripts', 'bin', '.ci'];
const SOURCE = /\.(ts|mts|js|mjs|cjs|sh)$|^run$/;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (SOURCE.test(entry.name)) out.push(path);
  }
  return out;
}

/** Quoted path literals: relative ones (`./`, `../`) and absolute ones (`/…`). */
const PATH_LITERAL = /(['"`])((?:\.{1,2}\/|\/)[^'"`$\s]*)\1/g;

/** Every path literal of `text` (read as a file in `dir`) that resolves outside `root`. */
function escapingPaths(text: string, dir: string, root: string): string[] {
  const escaping: string[] = [];
  for (const [, , literal] of text.matchAll(PATH_LITERAL)) {
    const target = isAbsolute(literal) ? literal : resolve(dir, literal);
    const fromRoot = relative(root, target);
    // Absolute paths elsewhere (/tmp, /proc, /dev/null) are the machine's, not a checkout's
    // neighbours; only the directory the repository sits in and its other children count.
    const beside = relative(dirname(root), target);
    const outside = fromRoot === '..' || fromRoot.startsWith(`..${sep}`);
    const besideRepository = !beside.startsWith('..') && !isAbsolute(beside);
    if (outside && (!isAbsolute(literal) || besideRepository)) escaping.push(literal);
  }
  return escaping;
}

test('the check itself: a relative path out of the repository and a sibling absolute path are caught', () => {
  const dir = join(ROOT, 'test', 'crypto');
  assert.deepEqual(escapingPaths(`new URL('../../../shared/v.json', u)`, dir, ROOT), [
    '../../../shared/v.json',
  ]);
  assert.deepEqual(escapingPaths(`read("${dirname(ROOT)}/shared/x")`, dir, ROOT), [
    `${dirname(ROOT)}/shared/x`,
  ]);
  assert.deepEqual(
    escapingPaths(`new URL('./vectors/v.json', u); '/tmp/x'; '../../src/a.js'`, dir, ROOT),
    [],
  );
});

test('no test, harness, bench or script reads outside the repository', () => {
  const offenders: string[] = [];
  for (const top of SCANNED) {
    let files: string[];
    try {
      files = filesUnder(join(ROOT, top));
    } catch {
      continue; // a folder this checkout does not have
    }
    for (const file of files) {
      if (file === fileURLToPath(import.meta.url)) continue; // its own examples of what to catch
      for (const literal of escapingPaths(readFileSync(file, 'utf8'), dirname(file), ROOT)) {
        offenders.push(`${relative(ROOT, file)}: ${literal}`);
      }
    }
  }
  assert.deepEqual(offenders, [], 'paths outside the repository');
});
