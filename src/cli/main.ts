/**
 * The `braid` command. Subcommands live in their own modules; this file only parses
 * the first word and reports usage errors with exit code 2.
 */
import { runDemo } from './demo.js';

const USAGE = `usage: braid <command> [options]

commands:
  demo [--streams N] [--mib M]   run a server and a client on this host and move data between them
  help                           show this help

exit codes: 0 success, 1 failure, 2 usage error`;

function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`--${name} needs a positive integer`);
  return v;
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'demo': {
        const { ok } = await runDemo({
          streams: intFlag(args, 'streams', 4),
          bytesPerStream: intFlag(args, 'mib', 8) * 1048576,
          out: (line) => console.log(line),
        });
        return ok ? 0 : 1;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`braid: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`braid: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
