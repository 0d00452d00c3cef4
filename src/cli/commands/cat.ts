/**
 * `braid cat SERVER [--to TARGET]`: stdin to one stream, the stream to stdout, like
 * netcat. Without --to the server echoes (braid serve --echo); with --to it forwards
 * to an allowed TCP target.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Command } from '../command.js';
import { type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { connectToServer, openForward, parseServerTarget } from '../shared/client.js';
import { CLIENT_OPTIONS_HELP, CLIENT_SPECS, clientOptionsFrom } from '../shared/client-options.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';
import { RequestKind } from '../shared/forward-protocol.js';

const CAT_USAGE = `usage: braid cat SERVER [--to TARGET] [options]

Copies stdin to one stream and the stream to stdout; ends when the server ends it.

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
  const session = await connectToServer(target, clientOptionsFrom(args, CAT_USAGE, log));
  try {
    const { stream, reader } = await openForward(
      session,
      forwardTo === undefined
        ? { kind: RequestKind.ECHO, target: '' }
        : { kind: RequestKind.FORWARD, target: forwardTo },
    );
    const incoming = new PassThrough();
    reader.pipeRest(incoming);
    incoming.pipe(process.stdout, { end: false });
    process.stdin.pipe(stream);
    const failed = once(stream, 'error').then(([error]) => {
      throw new CliError(`the stream failed: ${(error as Error).message}`);
    });
    await Promise.race([once(incoming, 'end'), failed]);
    process.stdin.unpipe(stream);
    process.stdin.pause();
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
    return ExitCode.OK;
  } finally {
    await session.close(0, 'cat done');
  }
}

export const command: Command = {
  usage: CAT_USAGE,
  flags: CAT_FLAGS,
  synopsis: 'SERVER [--to TARGET]',
  summary: 'stdin/stdout over one stream (echo, or a forward)',
  run: runCat,
};
