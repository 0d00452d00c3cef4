/**
 * Observability flags shared by the long-running commands (serve, tunnel, socks):
 * the control socket, --metrics and --events. One SessionTracker feeds all three.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { booleanFlag, type FlagSpec, type ParsedArgs, parseHostPort, stringFlag } from '../shared/args.js';
import { CliError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { type ControlServer, defaultControlDir, startControlServer } from './control.js';
import { startMetricsServer } from './metrics.js';
import { type BraidEvent, EventName, SessionTracker } from './tracker.js';

export const OBSERVE_SPECS: Record<string, FlagSpec> = {
  control: { type: 'string' },
  'no-control': { type: 'boolean' },
  metrics: { type: 'string' },
  events: { type: 'string' },
};

export const OBSERVE_HELP = `  --control PATH            control socket for braid status (default
                            $XDG_RUNTIME_DIR/braid/<command>-<pid>.sock, owner only)
  --no-control              do not open a control socket
  --metrics HOST:PORT       serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks one)
  --events FILE             append a JSON-lines event log of every session (see braid report)`;

export interface Observability {
  tracker: SessionTracker;
  control: ControlServer | undefined;
  close(): void;
}

/** Opens the event log; each record is written synchronously so a killed process loses nothing. */
export function openEventLog(path: string, tracker: SessionTracker): () => void {
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (error) {
    throw new CliError(`cannot open the event log ${path}: ${(error as Error).message}`);
  }
  const write = (event: BraidEvent): void => {
    writeSync(fd, `${JSON.stringify(event)}\n`);
  };
  write({
    time: Date.now(),
    name: 'braid:process:started',
    data: { command: tracker.command, pid: process.pid, format: 'braid-events/1' },
  });
  tracker.on('event', write);
  return () => {
    tracker.off('event', write);
    closeSync(fd);
  };
}

/**
 * The session events an operator must see without --events, as info-level log lines with their
 * reason: suspension and resumption, failover, a path that failed. Returns the unsubscriber.
 */
export function logSessionEvents(tracker: SessionTracker, log: Logger): () => void {
  const onEvent = ({ name, data }: BraidEvent): void => {
    const session = `session #${data.session}`;
    const fields = { session: data.session, event: name };
    if (name === EventName.sessionSuspended) {
      log.info(`${session} suspended: ${data.error}`, { ...fields, reason: data.reason });
    } else if (name === EventName.sessionResumed) {
      const after =
        typeof data.suspendedMs === 'number' ? ` after ${(data.suspendedMs / 1000).toFixed(1)} s` : '';
      log.info(`${session} resumed${after}`, { ...fields, suspendedMs: data.suspendedMs });
    } else if (name === EventName.failover) {
      log.info(
        `${session} failover: path ${data.from} (${data.fromLocal} → ${data.fromRemote}) to path ${data.to} ` +
          `(${data.toLocal} → ${data.toRemote}): ${data.reason}`,
        { ...fields, from: data.from, to: data.to, reason: data.reason },
      );
    } else if (name === EventName.pathFailed) {
      log.info(`${session} path ${data.path} (${data.local} → ${data.remote}) failed`, {
        ...fields,
        path: data.path,
      });
    }
  };
  tracker.on('event', onEvent);
  return () => tracker.off('event', onEvent);
}

export async function startObservability(
  args: ParsedArgs,
  command: string,
  log: Logger,
  describe: () => Record<string, unknown> = () => ({}),
  /** Pass one created earlier to see sessions that arrive while the rest starts. */
  tracker: SessionTracker = new SessionTracker(command),
): Promise<Observability> {
  const closers: Array<() => void> = [() => tracker.close()];
  const close = (): void => {
    for (const c of closers.splice(0).reverse()) c();
  };
  try {
    closers.push(logSessionEvents(tracker, log));
    const eventsPath = stringFlag(args, 'events');
    if (eventsPath) {
      closers.push(openEventLog(eventsPath, tracker));
      log(`event log ${eventsPath}`);
    }
    const metricsAt = stringFlag(args, 'metrics');
    if (metricsAt) {
      const { host, port } = parseHostPort(metricsAt, '--metrics', true);
      const { server, url } = await startMetricsServer(host, port, tracker);
      closers.push(() => server.close());
      log(`metrics on ${url}`);
    }
    let control: ControlServer | undefined;
    if (!booleanFlag(args, 'no-control')) {
      const path = stringFlag(args, 'control') ?? join(defaultControlDir(), `${command}-${process.pid}.sock`);
      control = await startControlServer(path, (request) => {
        if (request.method === 'status') {
          return {
            command,
            pid: process.pid,
            startedAt: tracker.startedAt,
            uptimeMs: Date.now() - tracker.startedAt,
            sessions: tracker.sessions(),
            totals: tracker.totals(),
            ...describe(),
          };
        }
        throw new Error(`unknown method '${request.method}' (known: status)`);
      });
      closers.push(() => control?.close());
      log(`control socket ${control.path}`);
    }
    return { tracker, control, close };
  } catch (error) {
    close();
    throw error;
  }
}
