/**
 * The `braid` command. Subcommands live in their own modules; this file parses the
 * first word, prints help, and turns errors into messages and exit codes.
 */
import { AddressInUseError, BraidError, UnauthorizedKeyError } from '../index.js';
import { CAT_USAGE, runCat } from './cat.js';
import { runDemo } from './demo.js';
import { CliError, EXIT_CODES_HELP, ExitCode, UsageError } from './errors.js';
import { KEYGEN_USAGE, runKeygen } from './keygen.js';
import { defaultKeyPath } from './keys.js';
import { runServe, SERVE_USAGE } from './serve.js';
import { runSocks, SOCKS_USAGE } from './socks.js';
import { runTunnel, TUNNEL_USAGE } from './tunnel.js';

const DEMO_USAGE = `usage: braid demo [--streams N] [--mib M]

Runs a server and a client on this host (loopback, no root) and moves M MiB over
each of N streams (defaults 4 and 8), checking SHA-256 at both ends.`;

const USAGE = `usage: braid <command> [options]      (braid <command> --help for details)

commands:
  keygen                       create this machine's key pair
  serve                        run a server: accept sessions, forward streams to allowed targets
  tunnel SERVER -L P:TARGET    forward local TCP ports through a session
  socks SERVER                 a local SOCKS5 proxy whose connections exit at the server
  cat SERVER [--to TARGET]     stdin/stdout over one stream (echo, or a forward)
  demo                         run a server and a client on this host and move data between them
  help                         show this help

SERVER is braid://<server-public-key>@host[:port] (pinned key) or host[:port]
(trust on first use, remembered in $XDG_CONFIG_HOME/braid/known_hosts).

${EXIT_CODES_HELP}`;

const COMMAND_USAGE: Record<string, string> = {
  keygen: KEYGEN_USAGE,
  serve: SERVE_USAGE,
  tunnel: TUNNEL_USAGE,
  socks: SOCKS_USAGE,
  cat: CAT_USAGE,
  demo: DEMO_USAGE,
};

function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`--${name} needs a positive integer`, DEMO_USAGE);
  return v;
}

function logger(command: string): (line: string) => void {
  return (line) => process.stderr.write(`braid ${command}: ${line}\n`);
}

async function dispatch(command: string, args: string[]): Promise<number> {
  const log = logger(command);
  switch (command) {
    case 'keygen':
      return runKeygen(args, log);
    case 'serve':
      return runServe(args, log);
    case 'tunnel':
      return runTunnel(args, log);
    case 'socks':
      return runSocks(args, log);
    case 'cat':
      return runCat(args, log);
    case 'demo': {
      if (args.includes('--help') || args.includes('-h')) {
        console.log(DEMO_USAGE);
        return ExitCode.OK;
      }
      const { ok } = await runDemo({
        streams: intFlag(args, 'streams', 4),
        bytesPerStream: intFlag(args, 'mib', 8) * 1048576,
        out: (line) => console.log(line),
      });
      return ok ? ExitCode.OK : ExitCode.FAILURE;
    }
    default:
      throw new UsageError(`unknown command '${command}'`, USAGE);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = command === 'help' ? args[0] : undefined;
    if (topic !== undefined && COMMAND_USAGE[topic]) console.log(COMMAND_USAGE[topic]);
    else console.log(USAGE);
    return command === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  try {
    return await dispatch(command, args);
  } catch (error) {
    if (error instanceof UsageError) {
      const usage = error.usage ?? COMMAND_USAGE[command] ?? USAGE;
      console.error(`braid ${command}: ${error.message}\n\n${usage}`);
      return ExitCode.USAGE;
    }
    if (error instanceof CliError) {
      console.error(`braid ${command}: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof AddressInUseError) {
      console.error(`braid ${command}: ${error.message}; choose another address or port`);
      return ExitCode.ADDRESS_IN_USE;
    }
    if (error instanceof UnauthorizedKeyError) {
      // The handshake can complete before the server's refusal arrives, so it may surface here.
      console.error(
        `braid ${command}: the server refused our key; ask its operator to add the key in ` +
          `${defaultKeyPath()}.pub (or your --key FILE.pub) to its authorized keys`,
      );
      return ExitCode.UNAUTHORIZED;
    }
    const code = error instanceof BraidError ? ` [${error.code}]` : '';
    console.error(`braid ${command}: ${(error as Error).message}${code}`);
    return ExitCode.FAILURE;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
