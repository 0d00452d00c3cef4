// Entry point of `npm run bench -- <name> [args]`; see bench/lib/dispatch.ts.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dispatch } from './lib/dispatch.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const code = await dispatch(process.argv.slice(2), benchDir);
// Explicit exit: a bench that leaves a handle open must not hang the command after printing.
process.exit(code);
