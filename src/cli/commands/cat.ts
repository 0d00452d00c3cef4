/**
 * `braid cat SERVER [--to TARGET]`: stdin to one stream, the stream to stdout, like
 * netcat. Without --to the server echoes (braid serve --echo); with --to it forwards
 * to an allowed TCP target (what `braid stdio` does, for ssh's ProxyCommand).
 */
import type { Command } from '../command.js';
import { type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { parseServerTarget } from '../shared/client.js';
import { CLIENT_OPTIONS_HELP, CLIENT_SPECS, clientOptionsFrom } from '../shared/client-options.js';
import { ExitCode, UsageError } from '../shared/errors.js';
import { RequestKind } from '../shared/forward-protocol.js';
import { bridgeStdio } from '../shared/stdio-bridge.js';

const CAT_USAGE = `usage: braid cat SERVER [--to TARGET] [options]

Copies stdin to one stream and the stream to stdout; ends when the server ends it.
The end of stdin is passed on (the target reads EOF). The session is closed, so the
server forgets it at once, when the stream ends or on SIGHUP, SIGTERM or SIGINT
(exit 128 + the signal's number).

  --to TARGET               forward to TARGET (an allow-list name or HOST:PORT) instead of
                            the server's echo service (braid serve --echo)
${CLIENT_OPTIONS_HELP}

example: echo hello | braid cat braid://<key>@server.example`;

const CAT_FLAGS: Record<string, FlagSpec> = { ...CLIENT_SPECS, to: { type: 'string' } };

async function runCat(argv: string[], log: (line: string) => void): Promise<number> {
  const args = parseArgs(argv, CAT_FLAGS, CAT_USAGE);
  if (args.help) {
    console.log(CAT_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', CAT_USAGE);
  const target = parseServerTarget(args.positionals[0]!);
  const forwardTo = stringFlag(args, 'to');
  return bridgeStdio(
    target,
    clientOptionsFrom(args, CAT_USAGE, log),
    forwardTo === undefined
      ? { kind: RequestKind.ECHO, target: '' }
      : { kind: RequestKind.FORWARD, target: forwardTo },
    'cat',
  );
}

export const command: Command = {
  usage: CAT_USAGE,
  flags: CAT_FLAGS,
  synopsis: 'SERVER [--to TARGET]',
  summary: 'stdin/stdout over one stream (echo, or a forward)',
  run: runCat,
};
