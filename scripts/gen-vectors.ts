/**
 * Writes docs/vectors/braid-v1.json and ik-session.json (docs/protocol.md §16). Run after a deliberate protocol
 * change: `node --import tsx scripts/gen-vectors.ts`. test/wire/vectors.test.ts fails while
 * the checked-in file differs from what the implementation generates.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ikTraceJson, vectorsJson } from '../testing/vectors/generate.js';

for (const [file, json] of [
  ['braid-v1.json', vectorsJson()],
  ['ik-session.json', ikTraceJson()],
] as const) {
  const path = new URL(`../docs/vectors/${file}`, import.meta.url);
  writeFileSync(path, json);
  // The repository's formatter has the last word on layout; the tests compare content.
  execFileSync('npx', ['biome', 'format', '--write', fileURLToPath(path)], { stdio: 'ignore' });
  console.log(`wrote ${path.pathname}`);
}
