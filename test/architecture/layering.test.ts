/**
 * The layering of docs/architecture.md, checked on the import statements themselves (every
 * `import`, `import type`, `export … from` and dynamic `import()`): each folder of src/ is a
 * layer that imports only from the layers below it, no two files of src/ import each other
 * through any chain, and the shipped package stands apart from the code that tests it.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  findCycles,
  graphOf,
  type ImportEdge,
  importEdges,
} from '../../testing/architecture/import-graph.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * What each layer of src/ may import besides itself: its folder name (src/index.ts, the
 * package entry, is the layer `index`) → the layers below it. From the bottom: net; wire and
 * crypto side by side; paths (its redundancy uses crypto's replay window); engine; errors and
 * diagnostics side by side, above the engine (errors are built from its close records) and
 * below the shell, which raises and publishes them; endpoint; api; index; cli. vpn (the TUN
 * side of `braid vpn`) sits beside api, on endpoint, and only cli uses it. `native`, the
 * loader of the optional addons, is only for the layers that load one: crypto, endpoint, vpn.
 */
const ALLOWED: Record<string, readonly string[]> = {
  net: [],
  native: [],
  wire: ['net'],
  crypto: ['net', 'native'],
  paths: ['net', 'wire', 'crypto'],
  engine: ['net', 'wire', 'crypto', 'paths'],
  errors: ['net', 'wire', 'crypto', 'paths', 'engine'],
  diagnostics: ['net', 'wire', 'crypto', 'paths', 'engine'],
  endpoint: ['net', 'native', 'wire', 'crypto', 'paths', 'engine', 'errors', 'diagnostics'],
  api: ['net', 'wire', 'crypto', 'paths', 'engine', 'errors', 'diagnostics', 'endpoint'],
  vpn: ['net', 'native', 'endpoint'],
  index: ['net', 'wire', 'crypto', 'paths', 'engine', 'errors', 'diagnostics', 'endpoint', 'api'],
  cli: [
    'net',
    'wire',
    'crypto',
    'paths',
    'engine',
    'errors',
    'diagnostics',
    'endpoint',
    'api',
    'index',
    'vpn',
  ],
};

const edges = importEdges(ROOT, ['src', 'testing', 'test', 'bench']);
const under = (folder: string) => (path: string) => path.startsWith(`${folder}/`);
const inSrc = under('src');

/** The layer of a file of src/: its top folder, or `index` for the package entry. */
function layerOf(path: string): string {
  const [, name, rest] = path.split('/');
  return rest === undefined ? name!.replace(/\.ts$/, '') : name!;
}

const mayImport = (layer: string) =>
  layer in ALLOWED ? ALLOWED[layer]!.join(', ') || 'nothing' : 'nothing (not a layer of ALLOWED)';
const show = (edge: ImportEdge) => `${edge.from} imports ${edge.to} ('${edge.specifier}')`;

test('the import graph is read: src/ has files and imports', () => {
  const srcEdges = edges.filter((edge) => inSrc(edge.from));
  assert.ok(new Set(srcEdges.map((edge) => edge.from)).size > 50, 'files of src/ with imports');
  assert.ok(srcEdges.length > 200, `${srcEdges.length} imports in src/`);
});

test('every folder of src/ (and src/index.ts) is a layer of the table, and the table is acyclic', () => {
  const layers = readdirSync(resolve(ROOT, 'src'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() || entry.name.endsWith('.ts'))
    .map((entry) => layerOf(`src/${entry.name}${entry.isDirectory() ? '/' : ''}`));
  assert.deepEqual(layers.filter((layer) => !(layer in ALLOWED)).sort(), [], 'layers missing from ALLOWED');
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    for (const below of allowed) assert.ok(below in ALLOWED, `${layer} allows the unknown layer ${below}`);
  }
  assert.deepEqual(
    findCycles(new Map(Object.entries(ALLOWED))).map((cycle) => cycle.path.join(' → ')),
    [],
    'the table of allowed layer dependencies has a cycle',
  );
});

test('src/ imports only from the same layer or a layer the table puts below it', () => {
  const upward = edges
    .filter((edge) => inSrc(edge.from) && inSrc(edge.to))
    .filter((edge) => {
      const from = layerOf(edge.from);
      const to = layerOf(edge.to);
      return from !== to && !(ALLOWED[from] ?? []).includes(to);
    })
    .map((edge) => `${show(edge)}: ${layerOf(edge.from)} may import ${mayImport(layerOf(edge.from))}`);
  assert.deepEqual(upward, []);
});

test('src/ has no import cycle between its files', () => {
  const graph = graphOf(edges.filter((edge) => inSrc(edge.from) && inSrc(edge.to)));
  const cycles = findCycles(graph).map(
    (cycle) =>
      `${cycle.path.join(' → ')}${cycle.files.length > 2 ? ` (component: ${cycle.files.join(', ')})` : ''}`,
  );
  assert.deepEqual(cycles, []);
});

test('src/ imports nothing from outside src/ (testing/, bench/, test/)', () => {
  assert.deepEqual(edges.filter((edge) => inSrc(edge.from) && !inSrc(edge.to)).map(show), []);
});

test('testing/ imports only src/ and testing/', () => {
  assert.deepEqual(
    edges
      .filter((edge) => under('testing')(edge.from) && !inSrc(edge.to) && !under('testing')(edge.to))
      .map(show),
    [],
  );
});

test('bench/ imports nothing from test/', () => {
  assert.deepEqual(edges.filter((edge) => under('bench')(edge.from) && under('test')(edge.to)).map(show), []);
});

test('only the tests of the benchmarks (test/bench/) import bench/', () => {
  assert.deepEqual(
    edges
      .filter(
        (edge) => under('test')(edge.from) && !under('test/bench')(edge.from) && under('bench')(edge.to),
      )
      .map(show),
    [],
  );
});
