#!/usr/bin/env node
// The `braid` command. An installed package runs its compiled dist/ and needs nothing else.
// In a checkout (src/ present) with the dev dependencies installed, it runs the TypeScript
// sources through tsx instead, so they are never stale; without tsx it falls back to dist/.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/src/cli/main.js', import.meta.url);

async function sourcesThroughTsx() {
  if (!existsSync(sources)) return false;
  try {
    const { register } = await import('tsx/esm/api');
    register();
    return true;
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') return false;
    throw error;
  }
}

let entry = compiled;
if (await sourcesThroughTsx()) entry = sources;
else if (!existsSync(compiled)) {
  process.stderr.write(
    'braid: dist/ is missing: run `npm run build` (or `npm install` with dev dependencies to run the sources)\n',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exit(await main(process.argv.slice(2)));
