#!/usr/bin/env node
// Runs the TypeScript sources through tsx in a checkout (so they are never stale), and the
// compiled dist/ in an installed package, which ships no sources.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = sources;
}
const { main } = await import(entry.href);
process.exit(await main(process.argv.slice(2)));
