/**
 * One `braid` subcommand. Each lives in commands/<name>.ts and exports `command`; main.ts
 * keeps the one table of them, from which it dispatches, answers `--help` and
 * `help COMMAND`, and builds the command list of `braid --help`.
 */
import type { FlagSpec } from './shared/args.js';
import type { Logger } from './shared/log.js';

export interface Command {
  /** `braid NAME --help`, also printed after a usage error: starts `usage: braid NAME`. */
  readonly usage: string;
  /** Every flag the command accepts; help.test.ts checks `usage` documents exactly these. */
  readonly flags: Record<string, FlagSpec>;
  /** Its line in `braid --help`: the arguments shown after the name ('' for none)... */
  readonly synopsis: string;
  /** ...and what it does (a '\n' continues on the next line, aligned). */
  readonly summary: string;
  /** Runs with the arguments after the command's name; resolves with the exit code. */
  run(args: string[], log: Logger): number | Promise<number>;
}
