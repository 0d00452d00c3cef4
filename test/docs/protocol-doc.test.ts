/**
 * docs/protocol.md is the specification a second implementation is written from (issue 16): it
 * states every rule itself, so it names no source file as the place a rule is defined, and the
 * tests its conformance checklist (§17.2) names exist.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url);
const doc = readFileSync(new URL('docs/protocol.md', ROOT), 'utf8');

test('protocol.md names no source file: every rule is written in the document', () => {
  const offenders = doc
    .split('\n')
    .map((line, i) => ({ line, number: i + 1 }))
    .filter(({ line }) => /(^|[^\w.-])src\//.test(line));
  assert.deepEqual(
    offenders.map(({ number, line }) => `${number}: ${line.trim()}`),
    [],
    'protocol.md must state the rule instead of pointing to the source',
  );
});

test('every test file the conformance checklist names exists', () => {
  const start = doc.indexOf('### 17.2');
  assert.ok(start >= 0, 'protocol.md has a §17.2 checklist of requirements and tests');
  const checklist = doc.slice(start);
  const named = [...new Set([...checklist.matchAll(/`([\w/-]+\.test\.ts)`/g)].map((m) => m[1]))];
  assert.ok(named.length >= 20, `the checklist names tests (found ${named.length})`);
  const missing = named.filter((path) => !existsSync(new URL(`test/${path}`, ROOT)));
  assert.deepEqual(missing, [], 'checklist rows must name existing files under test/');
});

test('every checklist row names a test or says "untested"', () => {
  const checklist = doc.slice(doc.indexOf('### 17.2'));
  const rows = checklist
    .split('\n')
    .filter((line) => line.startsWith('|') && !line.startsWith('| -') && !line.startsWith('| §'));
  assert.ok(rows.length > 0);
  for (const row of rows) {
    const cells = row.split(' | ');
    const last = cells[cells.length - 1] ?? '';
    assert.ok(/\.test\.ts`|untested/.test(last), `row without a test or "untested": ${row.trim()}`);
  }
});
