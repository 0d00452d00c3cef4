/** The import reader and cycle finder behind the layering test (testing/architecture/). */
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findCycles, importSpecifiers, resolveImport } from '../../testing/architecture/import-graph.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('every kind of module reference is read; comments and strings are not', () => {
  const text = `
    // import { x } from './line-comment.js';
    /* export * from './block-comment.js'; */
    import type { A } from './type.js';
    import { type B, c } from "./mixed.js";
    import './side-effect.js';
    import {
      d,
      e,
    } from '../multi-line.js';
    export * from './star.js';
    export type { F } from './export-type.js';
    export { g } from './export-from.js';
    type H = import('./type-position.js').H;
    const i = await import('./dynamic.js');
    const j = \`import { k } from './template.js';\`;
    const l = 'import m from "./string.js"';
    import { readFileSync } from 'node:fs';
  `;
  assert.deepEqual(importSpecifiers(text), [
    './type.js',
    './mixed.js',
    './side-effect.js',
    '../multi-line.js',
    './star.js',
    './export-type.js',
    './export-from.js',
    './type-position.js',
    './dynamic.js',
    'node:fs',
  ]);
});

test('a specifier resolves to the repository path of its .ts source', () => {
  assert.equal(
    resolveImport(ROOT, 'src/endpoint/udp-endpoint.ts', '../engine/types.js'),
    'src/engine/types.ts',
  );
  assert.equal(resolveImport(ROOT, 'src/engine/endpoint.ts', '../crypto/noise'), 'src/crypto/noise/index.ts');
  assert.equal(
    resolveImport(ROOT, 'test/architecture/layering.test.ts', '../../testing/sim/rng.js'),
    'testing/sim/rng.ts',
  );
  assert.equal(resolveImport(ROOT, 'src/index.ts', 'node:fs'), undefined);
});

test('cycles: each strongly connected component once, with a shortest cycle through it', () => {
  const graph = new Map([
    ['a', ['b']],
    ['b', ['c', 'd']],
    ['c', ['a']],
    ['d', ['e']],
    ['e', []],
    ['f', ['f']],
    ['g', ['h', 'e']],
    ['h', ['g']],
  ]);
  assert.deepEqual(findCycles(graph), [
    { files: ['a', 'b', 'c'], path: ['a', 'b', 'c', 'a'] },
    { files: ['f'], path: ['f', 'f'] },
    { files: ['g', 'h'], path: ['g', 'h', 'g'] },
  ]);
  assert.deepEqual(
    findCycles(
      new Map([
        ['a', ['b']],
        ['b', []],
      ]),
    ),
    [],
  );
});
