#!/usr/bin/env node
// Compiles src/ to dist/ (tsconfig.build.json), which is what the package ships and bin/braid.js
// runs outside a checkout, then writes the man page dist/man/braid.1 from the compiled CLI. `--clean` first removes dist/ so no output of a deleted source ships
// (prepack, npm run build); without it the build is incremental (dist/.tsbuildinfo), which keeps
// `prepare` (run by every `npm ci` here and by git installs) to seconds once dist/ exists.
// `--if-possible` (prepare) says why and succeeds where TypeScript is not installed, e.g.
// `npm ci --omit=dev` in a checkout: there is nothing to build with, and nothing needs dist/ there.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const clean = process.argv.includes('--clean');
const ifPossible = process.argv.includes('--if-possible');

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  const message = 'build-dist: TypeScript is not installed (a devDependency), so dist/ was not built';
  if (ifPossible) {
    process.stderr.write(`${message}; \`npm install\` with dev dependencies, then \`npm run build\`\n`);
    process.exit(0);
  }
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

if (clean) rmSync(resolve(root, 'dist'), { recursive: true, force: true });
const result = spawnSync(
  process.execPath,
  [tsc, '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', 'dist/.tsbuildinfo'],
  { cwd: root, stdio: 'inherit' },
);
if (result.status !== 0) process.exit(result.status ?? 1);

// braid(1), from the compiled CLI's own help texts (package.json "man" installs it).
const { manPageText } = await import(pathToFileURL(resolve(root, 'dist/src/cli/main.js')).href);
mkdirSync(resolve(root, 'dist/man'), { recursive: true });
writeFileSync(resolve(root, 'dist/man/braid.1'), manPageText());
process.exit(0);
