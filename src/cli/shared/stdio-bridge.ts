/**
 * stdin/stdout bridged to one forward stream, for `braid cat` and `braid stdio` (ssh's
 * ProxyCommand). Whatever ends the bridge, the session is closed with a CLOSE, so the
 * server forgets it at once instead of keeping a ghost session until its idle timeout:
 * the remote end finishing, the stream failing, stdout going away, or SIGHUP (what ssh
 * sends its ProxyCommand when it exits), SIGTERM or SIGINT.
 */
import { once } from 'node:events';
import { constants } from 'node:os';
import { PassThrough } from 'node:stream';
import type { Session } from '../../index.js';
import type { ClientOptions } from './client.js';
import { connectToServer, openForward, type ServerTarget } from './client.js';
import { CliError, ExitCode } from './errors.js';
import type { ForwardRequest } from './forward-protocol.js';

/** The signals that end a bridge; each closes the session before the process exits. */
const STOP_SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const;
type StopSignal = (typeof STOP_SIGNALS)[number];

/** The exit code of a bridge a signal ended: 128 + its number, as shells report it. */
export function signalExitCode(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

/**
 * Connects, opens `request` and copies stdin to the stream and the stream to stdout. stdin's
 * end half-closes the stream (the target sees EOF); the bridge ends when the remote end
 * finishes, and then closes the session. Resolves with the exit code.
 */
export async function bridgeStdio(
  target: ServerTarget,
  options: ClientOptions,
  request: ForwardRequest,
  label: string,
): Promise<number> {
  // Listening before the handshake: a signal during it must not kill the process before the
  // session it is building can be closed.
  let stopSignal: StopSignal | undefined;
  const stopped = new Promise<StopSignal>((resolve) => {
    const onSignal = (signal: StopSignal): void => {
      stopSignal ??= signal;
      resolve(signal);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  });
  const connecting = connectToServer(target, options);
  const first = await Promise.race([connecting, stopped]);
  if (typeof first === 'string') {
    options.log(`${first}: closing`);
    // The handshake may still complete: that session is closed as soon as it does.
    await connecting.then(
      (session) => session.close(0, `${label}: ${first}`),
      () => undefined,
    );
    return signalExitCode(first);
  }
  try {
    return await pump(first, request, label, stopped, options.log);
  } finally {
    await first.close(0, stopSignal ? `${label}: ${stopSignal}` : `${label} done`);
  }
}

async function pump(
  session: Session,
  request: ForwardRequest,
  label: string,
  stopped: Promise<StopSignal>,
  log: (line: string) => void,
): Promise<number> {
  const opening = openForward(session, request);
  const opened = await Promise.race([opening, stopped]);
  if (typeof opened === 'string') {
    log(`${opened}: closing`);
    return signalExitCode(opened);
  }
  const { stream, reader } = opened;
  const incoming = new PassThrough();
  reader.pipeRest(incoming);
  incoming.pipe(process.stdout, { end: false });
  process.stdin.pipe(stream);
  const failed = once(stream, 'error').then(([error]) => {
    throw new CliError(`${label}: the stream failed: ${(error as Error).message}`);
  });
  // ssh closed its end of our stdout (EPIPE): nobody reads what the target sends any more.
  const stdoutGone = once(process.stdout, 'error').then(() => 'stdout closed' as const);
  const outcome = await Promise.race([
    once(incoming, 'end').then(() => 'end' as const),
    failed,
    stdoutGone,
    stopped,
  ]);
  process.stdin.unpipe(stream);
  process.stdin.pause();
  if (outcome === 'end') {
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
    return ExitCode.OK;
  }
  if (outcome === 'stdout closed') {
    log('stdout closed: closing');
    return ExitCode.OK;
  }
  log(`${outcome}: closing`);
  return signalExitCode(outcome);
}
