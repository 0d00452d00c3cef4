/** `braid receive [--dir DIR] ...`: `braid serve --receive-dir DIR ...` under its own name. */
import type { Command } from '../command.js';
import { ExitCode, UsageError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { runServe } from './serve.js';

const RECEIVE_USAGE = `usage: braid receive [--dir DIR] [serve options]

Runs a braid server that accepts files from braid send into DIR (default: the
current directory): the same as braid serve --receive-dir DIR, and every serve
option applies (--listen, --authorized-keys or --allow-any, --key, ...).
Interrupted transfers stay as .NAME.braid-partial with a .NAME.braid-state file
and continue when the sender runs again; a file appears under its name only once
its SHA-256 matches. A DIR that group or others may write to is refused unless
--shared-receive-dir is given.

  -d, --dir DIR             where received files go (default: the current directory)
  -h, --help                show this help

example: braid receive --dir ~/incoming --authorized-keys ~/.config/braid/clients`;

/** `braid receive [--dir D] ...` is `braid serve --receive-dir D ...`. */
function receiveArgs(args: string[]): string[] {
  const out: string[] = [];
  let dir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--dir' || arg === '-d') {
      dir = args[++i];
      if (dir === undefined) throw new UsageError("option '--dir' needs a value", RECEIVE_USAGE);
    } else if (arg.startsWith('--dir=')) {
      dir = arg.slice('--dir='.length);
    } else {
      out.push(arg);
    }
  }
  if (!out.some((a) => a === '--receive-dir' || a.startsWith('--receive-dir='))) {
    out.push('--receive-dir', dir ?? process.cwd());
  }
  return out;
}

function runReceive(args: string[], log: Logger): Promise<number> | number {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(RECEIVE_USAGE);
    return ExitCode.OK;
  }
  return runServe(receiveArgs(args), log, 'receive');
}

export const command: Command = {
  usage: RECEIVE_USAGE,
  // Its own flag; every other one is passed on to serve.
  flags: { dir: { type: 'string', short: 'd' } },
  synopsis: '[--dir DIR]',
  summary: 'run a server that accepts files (braid serve --receive-dir DIR)',
  run: runReceive,
};
