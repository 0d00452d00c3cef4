// The failover reasons the engine can emit are exactly the ones its type declares and the ones
// the documentation lists (issue 14: events used a reason the README did not list). Read from
// the sources: every reason literal the path lifecycle hands to a move (switchActive,
// failover, leavePath, a move on validation) against FailoverReason, the README's list and
// docs/multihoming.md's table.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const sorted = (items: Iterable<string>) => [...new Set(items)].sort();

/** The members of `export type FailoverReason = 'a' | 'b' ...;` in src/engine/types.ts. */
function declared(): string[] {
  const types = read('src/engine/types.ts');
  const match = /export type FailoverReason =([^;]+);/.exec(types);
  assert.ok(match, 'FailoverReason is declared in src/engine/types.ts');
  return sorted([...match[1].matchAll(/'([a-z-]+)'/g)].map((m) => m[1]));
}

/**
 * Reason literals the path lifecycle moves with: the second argument of switchActive, failover
 * and leavePath (a literal, or a choice between literals), and what it stores for a move on
 * validation (migrateOnValidation, passed on as that argument).
 */
function emitted(): string[] {
  const source = read('src/engine/connection/path-manager.ts');
  const out: string[] = [];
  for (const call of source.matchAll(/\b(?:switchActive|failover|leavePath)\(\s*[\w.]+,\s*([^,]+),/g))
    for (const literal of call[1].matchAll(/'([a-z-]+)'/g)) out.push(literal[1]);
  for (const assignment of source.matchAll(/migrateOnValidation\s*(?:\?\?=|=)\s*'([a-z-]+)'/g))
    out.push(assignment[1]);
  return sorted(out);
}

test('the engine emits every declared failover reason and no other', () => {
  assert.deepEqual(emitted(), declared());
});

test("README's list of failover reasons is exactly the declared ones", () => {
  const readme = read('README.md');
  const start = readme.indexOf('Failover reasons:');
  assert.ok(start >= 0, 'README lists the failover reasons');
  const paragraph = readme.slice(start, readme.indexOf('\n- ', start));
  const listed = sorted([...paragraph.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]));
  assert.deepEqual(listed, declared());
});

test("docs/multihoming.md's table of reasons is exactly the declared ones", () => {
  const doc = read('docs/multihoming.md');
  const start = doc.indexOf('| reason ');
  assert.ok(start >= 0, 'docs/multihoming.md has a table of failover reasons');
  const rows = doc.slice(start).split('\n');
  const table = rows.slice(
    2,
    rows.findIndex((line, i) => i > 0 && !line.startsWith('|')),
  );
  const listed = sorted(table.map((row) => /^\|\s*`([a-z-]+)`/.exec(row)?.[1] ?? `unparsed row: ${row}`));
  assert.deepEqual(listed, declared());
});

test('the API documents the same reasons on its failover event', () => {
  const session = read('src/api/session.ts');
  const start = session.indexOf('The session moved its sending from one path to another');
  assert.ok(start >= 0);
  const comment = session.slice(start, session.indexOf('*/', start));
  assert.deepEqual(sorted([...comment.matchAll(/'([a-z-]+)'/g)].map((m) => m[1])), declared());
});
