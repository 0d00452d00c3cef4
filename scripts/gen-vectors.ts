/**
 * Writes docs/vectors/braid-v1.json (docs/protocol.md §16). Run after a deliberate protocol
 * change: `node --import tsx scripts/gen-vectors.ts`. test/wire/vectors.test.ts fails while
 * the checked-in file differs from what the implementation generates.
 */
import { writeFileSync } from 'node:fs';
import { vectorsJson } from '../testing/vectors/generate.js';

const path = new URL('../docs/vectors/braid-v1.json', import.meta.url);
writeFileSync(path, vectorsJson());
console.log(`wrote ${path.pathname}`);
