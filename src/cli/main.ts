/**
 * The `braid` command. Subcommands live in commands/, one module each, and are listed once,
 * in COMMANDS below; this file parses the first word, prints help, and turns errors into
 * messages and exit codes.
 */
import { readFileSync } from 'node:fs';
import {
  AddressInUseError,
  BraidError,
  describeBackend,
  formatBackend,
  UnauthorizedKeyError,
} from '../index.js';
import { BRAID_VERSION_1 } from '../wire/packet.js';
import type { Command } from './command.js';
import { command as cat } from './commands/cat.js';
import { completionCommand } from './commands/completion.js';
import { command as demo } from './commands/demo.js';
import { command as keygen } from './commands/keygen.js';
import { command as ping } from './commands/ping.js';
import { command as receive } from './commands/receive.js';
import { command as report } from './commands/report.js';
import { command as send } from './commands/send.js';
import { command as serve } from './commands/serve.js';
import { command as socks } from './commands/socks.js';
import { command as status } from './commands/status.js';
import { command as stdio } from './commands/stdio.js';
import { command as tunnel } from './commands/tunnel.js';
import { command as vpn } from './commands/vpn.js';
import { renderManPage } from './manpage.js';
import { configuredLogOptions } from './shared/args.js';
import { CliError, EXIT_CODES_HELP, ExitCode, UsageError } from './shared/errors.js';
import { PROTOCOL_VERSION as FORWARD_PROTOCOL_VERSION } from './shared/forward-protocol.js';
import { defaultKeyPath } from './shared/keys.js';
import { createLogger, extractLogOptions, LOG_OPTIONS_HELP, type LoggerOptions } from './shared/log.js';

/**
 * Every subcommand, in the order `braid --help` lists them: the one table main() dispatches
 * with and takes every help text from (help.test.ts checks usage and flags agree).
 */
export const COMMANDS: Readonly<Record<string, Command>> = {
  keygen,
  serve,
  tunnel,
  vpn,
  socks,
  cat,
  stdio,
  send,
  receive,
  status,
  ping,
  report,
  demo,
  // Generated from this table when it runs, so it lists every command above.
  completion: completionCommand(() => COMMANDS),
};

/** The command of that name; undefined for anything else (Object.prototype's names included). */
function lookup(name: string | undefined): Command | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

/** One line of the command list: the synopsis, then the summary at column 31. */
function listing(synopsis: string, summary: string): string {
  const [first, ...more] = summary.split('\n');
  return [`  ${synopsis.padEnd(29)}${first}`, ...more.map((line) => `${' '.repeat(31)}${line}`)].join('\n');
}

/** package.json: two levels above src/cli (a checkout), three above dist/src/cli (a package). */
const PACKAGE_JSON = new URL(
  import.meta.url.includes('/dist/src/') ? '../../../package.json' : '../../package.json',
  import.meta.url,
);

export const USAGE = `usage: braid <command> [options]      (braid <command> --help for details)

commands:
${Object.entries(COMMANDS)
  .map(([name, { synopsis, summary }]) => listing(synopsis ? `${name} ${synopsis}` : name, summary))
  .join('\n')}
${listing('help', 'show this help')}
${listing('--version', 'the version, protocol version and back-end (native or portable, and why)')}

SERVER is braid://<server-public-key>@host[:port] (pinned key) or host[:port]
(trust on first use, remembered in $XDG_CONFIG_HOME/braid/known_hosts).

${LOG_OPTIONS_HELP}

${EXIT_CODES_HELP}`;

/**
 * `braid --version`: the package version, the Node version, the back-end this process would
 * use, the protocol versions it speaks (what decides whether two peers interoperate) and
 * which native addons loaded.
 */
export function versionText(): string {
  const manifest = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  const backend = describeBackend();
  const addon = (name: string, loaded: boolean, part: string): string => {
    if (loaded) return `${name} loaded`;
    const why = backend.reasons.find((reason) => reason.startsWith(`${part}: `))?.slice(part.length + 2);
    return `${name} not loaded (${why ?? 'unavailable'})`;
  };
  return [
    `braid ${manifest.version} (node ${process.versions.node})`,
    `back-end: ${formatBackend(backend)}`,
    `protocol: ${BRAID_VERSION_1 & 0xffff} (wire version 0x${BRAID_VERSION_1.toString(16)}, ` +
      `stream-open exchange ${FORWARD_PROTOCOL_VERSION})`,
    `native addons: ${addon('braid_udp', backend.udp === 'native', 'udp')}, ` +
      addon('braid_crypto', backend.crypto === 'openssl', 'crypto'),
  ].join('\n');
}

/** braid(1): the help texts above as a man page (scripts/build-dist.mjs writes dist/man/braid.1). */
export function manPageText(): string {
  const manifest = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string; description: string };
  // The NAME line of a man page: lower case, no final stop.
  const summary = manifest.description.replace(/^A /, 'a ').replace(/\.$/, '');
  return renderManPage(COMMANDS, USAGE, manifest.version, summary);
}

export async function main(argv: string[]): Promise<number> {
  let options: LoggerOptions;
  let rest: string[];
  try {
    ({ args: rest, options } = extractLogOptions(argv, process.env, process.stderr.isTTY === true, (args) => {
      const subcommand = lookup(args[0]);
      return subcommand ? configuredLogOptions(args.slice(1), subcommand.flags) : new Map();
    }));
  } catch (error) {
    console.error(`braid: ${(error as Error).message}\n\n${USAGE}`);
    return ExitCode.USAGE;
  }
  const [command, ...args] = rest;
  if (command === '--version' || command === '-V' || command === 'version') {
    console.log(versionText());
    return ExitCode.OK;
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = lookup(command === 'help' ? args[0] : undefined);
    console.log(topic ? topic.usage : USAGE);
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
    const subcommand = lookup(command);
    if (!subcommand) throw new UsageError(`unknown command '${command}'`, USAGE);
    return await subcommand.run(args, log);
  } catch (error) {
    if (error instanceof UsageError) {
      const usage = error.usage ?? lookup(command)?.usage ?? USAGE;
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
