/**
 * The `braid` command. Subcommands live in their own modules; this file parses the
 * first word, prints help, and turns errors into messages and exit codes.
 */
import { AddressInUseError, BraidError, UnauthorizedKeyError } from '../index.js';
import { CAT_FLAGS, CAT_USAGE, runCat } from './commands/cat.js';
import { KEYGEN_FLAGS, KEYGEN_USAGE, runKeygen } from './commands/keygen.js';
import { PING_FLAGS, PING_USAGE, runPing } from './commands/ping.js';
import { runSend, SEND_FLAGS, SEND_USAGE } from './commands/send.js';
import { runServe, SERVE_FLAGS, SERVE_USAGE } from './commands/serve.js';
import { runSocks, SOCKS_FLAGS, SOCKS_USAGE } from './commands/socks.js';
import { runStatus, STATUS_FLAGS, STATUS_USAGE } from './commands/status.js';
import { runTunnel, TUNNEL_FLAGS, TUNNEL_USAGE } from './commands/tunnel.js';
import { DEMO_FLAGS, DEMO_USAGE, runDemoCommand } from './demo/demo.js';
import { REPORT_FLAGS, REPORT_USAGE, runReport } from './observe/report.js';
import type { FlagSpec } from './shared/args.js';
import { CliError, EXIT_CODES_HELP, ExitCode, UsageError } from './shared/errors.js';
import { defaultKeyPath } from './shared/keys.js';
import {
  createLogger,
  extractLogOptions,
  LOG_OPTIONS_HELP,
  type Logger,
  type LoggerOptions,
} from './shared/log.js';

const RECEIVE_USAGE = `usage: braid receive [--dir DIR] [serve options]

Runs a braid server that accepts files from braid send into DIR (default: the
current directory): the same as braid serve --receive-dir DIR, and every serve
option applies (--listen, --authorized-keys or --allow-any, --key, ...).
Interrupted transfers stay as .NAME.braid-partial with a .NAME.braid-state file
and continue when the sender runs again; a file appears under its name only once
its SHA-256 matches.

  -d, --dir DIR             where received files go (default: the current directory)
  -h, --help                show this help

example: braid receive --dir ~/incoming --authorized-keys ~/.config/braid/clients`;

const USAGE = `usage: braid <command> [options]      (braid <command> --help for details)

commands:
  keygen                       create this machine's key pair
  serve                        run a server: accept sessions, forward streams to allowed targets
  tunnel SERVER -L P:TARGET    forward local TCP ports through a session (-R: server ports back here)
  socks SERVER                 a local SOCKS5 proxy whose connections exit at the server
  cat SERVER [--to TARGET]     stdin/stdout over one stream (echo, or a forward)
  send FILE SERVER             send a file (resumable, SHA-256 verified) to a receiving server
  receive [--dir DIR]          run a server that accepts files (braid serve --receive-dir DIR)
  status [--watch]             sessions and paths of the running braid processes (ss/mtr-like)
  ping SERVER                  round-trip times over a stream and datagrams, per-path RTT
  report EVENTS [-o FILE]      turn an --events log into an HTML timeline
  demo                         watch a session fail over between two paths on this host
                               (network namespaces as root, else loopback addresses)
  help                         show this help

SERVER is braid://<server-public-key>@host[:port] (pinned key) or host[:port]
(trust on first use, remembered in $XDG_CONFIG_HOME/braid/known_hosts).

${LOG_OPTIONS_HELP}

${EXIT_CODES_HELP}`;

/** Every subcommand with its help text and the flags it accepts (help.test.ts checks they agree). */
export const COMMANDS: Record<string, { usage: string; flags: Record<string, FlagSpec> }> = {
  keygen: { usage: KEYGEN_USAGE, flags: KEYGEN_FLAGS },
  serve: { usage: SERVE_USAGE, flags: SERVE_FLAGS },
  tunnel: { usage: TUNNEL_USAGE, flags: TUNNEL_FLAGS },
  socks: { usage: SOCKS_USAGE, flags: SOCKS_FLAGS },
  cat: { usage: CAT_USAGE, flags: CAT_FLAGS },
  send: { usage: SEND_USAGE, flags: SEND_FLAGS },
  receive: { usage: RECEIVE_USAGE, flags: { dir: { type: 'string', short: 'd' } } },
  status: { usage: STATUS_USAGE, flags: STATUS_FLAGS },
  ping: { usage: PING_USAGE, flags: PING_FLAGS },
  report: { usage: REPORT_USAGE, flags: REPORT_FLAGS },
  demo: { usage: DEMO_USAGE, flags: DEMO_FLAGS },
};

export { USAGE };

const COMMAND_USAGE: Record<string, string> = Object.fromEntries(
  Object.entries(COMMANDS).map(([name, { usage }]) => [name, usage]),
);

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

async function dispatch(command: string, args: string[], log: Logger): Promise<number> {
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
    case 'send':
      return runSend(args, log);
    case 'receive':
      if (args.includes('--help') || args.includes('-h')) {
        console.log(RECEIVE_USAGE);
        return ExitCode.OK;
      }
      return runServe(receiveArgs(args), log, 'receive');
    case 'status':
      return runStatus(args);
    case 'ping':
      return runPing(args, log);
    case 'report':
      return runReport(args, log);
    case 'demo':
      return runDemoCommand(args);
    default:
      throw new UsageError(`unknown command '${command}'`, USAGE);
  }
}

export async function main(argv: string[]): Promise<number> {
  let options: LoggerOptions;
  let rest: string[];
  try {
    ({ args: rest, options } = extractLogOptions(argv, process.env, process.stderr.isTTY === true));
  } catch (error) {
    console.error(`braid: ${(error as Error).message}\n\n${USAGE}`);
    return ExitCode.USAGE;
  }
  const [command, ...args] = rest;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = command === 'help' ? args[0] : undefined;
    if (topic !== undefined && COMMAND_USAGE[topic]) console.log(COMMAND_USAGE[topic]);
    else console.log(USAGE);
    return command === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  const log = createLogger(command, options);
  // A bad command line is answered with the usage text, for a person; other failures
  // go through the logger, so a JSON log ends with a record of why the process stopped.
  const fail = (message: string, exitCode: number): number => {
    if (log.format === 'json') log.error(message, { exitCode });
    else console.error(`braid ${command}: ${message}`);
    return exitCode;
  };
  try {
    return await dispatch(command, args, log);
  } catch (error) {
    if (error instanceof UsageError) {
      const usage = error.usage ?? COMMAND_USAGE[command] ?? USAGE;
      console.error(`braid ${command}: ${error.message}\n\n${usage}`);
      return ExitCode.USAGE;
    }
    if (error instanceof CliError) return fail(error.message, error.exitCode);
    if (error instanceof AddressInUseError) {
      return fail(`${error.message}; choose another address or port`, ExitCode.ADDRESS_IN_USE);
    }
    if (error instanceof UnauthorizedKeyError) {
      // The handshake can complete before the server's refusal arrives, so it may surface here.
      return fail(
        'the server refused our key; ask its operator to add the key in ' +
          `${defaultKeyPath()}.pub (or your --key FILE.pub) to its authorized keys`,
        ExitCode.UNAUTHORIZED,
      );
    }
    const code = error instanceof BraidError ? ` [${error.code}]` : '';
    return fail(`${(error as Error).message}${code}`, ExitCode.FAILURE);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
