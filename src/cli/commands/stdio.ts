/**
 * `braid stdio SERVER --to TARGET`: stdin/stdout as one TCP connection to TARGET at the
 * server, for ssh's ProxyCommand. `braid cat --to` does the same; this name says what
 * ssh needs and requires the target, so a forgotten --to is an error, not an echo.
 */
import type { Command } from '../command.js';
import { type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { parseServerTarget } from '../shared/client.js';
import { CLIENT_OPTIONS_HELP, CLIENT_SPECS, clientOptionsFrom } from '../shared/client-options.js';
import { ExitCode, UsageError } from '../shared/errors.js';
import { RequestKind } from '../shared/forward-protocol.js';
import { bridgeStdio } from '../shared/stdio-bridge.js';

const STDIO_USAGE = `usage: braid stdio SERVER --to TARGET [options]

Connects stdin and stdout to TARGET through the server, for ssh's ProxyCommand:
ssh talks to its server over a Braid session that survives address changes and
path failures. Only the server's allow-list decides which targets are reachable.

The end of stdin is passed on to TARGET. The session is closed (the server forgets it
at once) when TARGET closes the connection, when stdout is closed, or on SIGHUP (what
ssh sends when it exits), SIGTERM or SIGINT (exit 128 + the signal's number).

  --to TARGET               an allow-list name of the server (e.g. ssh) or HOST:PORT as the
                            server sees it (in ~/.ssh/config: --to %h:%p)
${CLIENT_OPTIONS_HELP}

example: ssh -o ProxyCommand='braid stdio braid://<key>@server.example --to ssh' user@server.example`;

const STDIO_FLAGS: Record<string, FlagSpec> = { ...CLIENT_SPECS, to: { type: 'string' } };

async function runStdio(argv: string[], log: (line: string) => void): Promise<number> {
  const args = parseArgs(argv, STDIO_FLAGS, STDIO_USAGE);
  if (args.help) {
    console.log(STDIO_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', STDIO_USAGE);
  const forwardTo = stringFlag(args, 'to');
  if (forwardTo === undefined || forwardTo === '') {
    throw new UsageError('give the target with --to TARGET (e.g. --to ssh)', STDIO_USAGE);
  }
  const target = parseServerTarget(args.positionals[0]!);
  return bridgeStdio(
    target,
    clientOptionsFrom(args, STDIO_USAGE, log),
    { kind: RequestKind.FORWARD, target: forwardTo },
    'stdio',
  );
}

export const command: Command = {
  usage: STDIO_USAGE,
  flags: STDIO_FLAGS,
  synopsis: 'SERVER --to TARGET',
  summary: "stdin/stdout as one connection to TARGET (ssh's ProxyCommand)",
  run: runStdio,
};
