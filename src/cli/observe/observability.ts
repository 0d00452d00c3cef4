/**
 * Observability flags shared by the long-running commands (serve, tunnel, socks):
 * the control socket, --metrics (and /healthz) and --events. One SessionTracker feeds all
 * three. Also what these commands tell a service manager (service-manager.ts) and SIGHUP,
 * which reopens the event log (for log rotation) and runs the command's own reload.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { booleanFlag, type FlagSpec, type ParsedArgs, parseHostPort, stringFlag } from '../shared/args.js';
import { CliError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { type ControlServer, defaultControlDir, startControlServer } from './control.js';
import { type Health, startMetricsServer } from './metrics.js';
import { serviceNotifier } from './service-manager.js';
import { type BraidEvent, EventName, SessionTracker } from './tracker.js';

export const OBSERVE_SPECS: Record<string, FlagSpec> = {
  control: { type: 'string' },
  'no-control': { type: 'boolean' },
  metrics: { type: 'string' },
  events: { type: 'string' },
};

export const OBSERVE_HELP = `  --control PATH            control socket for braid status (default
                            $XDG_RUNTIME_DIR/braid/<command>-<pid>.sock, owner only; for a
                            service $RUNTIME_DIRECTORY, for root without a session /run/braid)
  --no-control              do not open a control socket
  --metrics HOST:PORT       serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks one),
                            and /healthz: 200 while serving, 503 while starting or draining
  --events FILE             append a JSON-lines event log of every session (see braid report);
                            SIGHUP reopens it (for logrotate)`;

export interface Observability {
  tracker: SessionTracker;
  control: ControlServer | undefined;
  /** Serving now: /healthz answers 200, the service manager hears READY=1 with `status()`. */
  ready(status: () => string): void;
  /** Runs at each SIGHUP, after the event log is reopened (between RELOADING=1 and READY=1). */
  onReload(reload: () => void): void;
  /** Shutting down (SIGTERM): /healthz answers 503, the service manager hears STOPPING=1. */
  drain(reason: string): void;
  close(): void;
}

/** Call it to close the log; `reopen` opens the path again (after logrotate renamed the file). */
export type EventLog = (() => void) & { reopen(): void };

function openAppend(path: string): number {
  try {
    return openSync(path, 'a', 0o600);
  } catch (error) {
    throw new CliError(`cannot open the event log ${path}: ${(error as Error).message}`);
  }
}

/** Opens the event log; each record is written synchronously so a killed process loses nothing. */
export function openEventLog(path: string, tracker: SessionTracker): EventLog {
  let fd = openAppend(path);
  const write = (event: BraidEvent): void => {
    writeSync(fd, `${JSON.stringify(event)}\n`);
  };
  write({
    time: Date.now(),
    name: 'braid:process:started',
    data: { command: tracker.command, pid: process.pid, format: 'braid-events/1' },
  });
  tracker.on('event', write);
  const close = (): void => {
    tracker.off('event', write);
    closeSync(fd);
  };
  return Object.assign(close, {
    // On failure the old file stays in use: records keep going somewhere.
    reopen: () => {
      const next = openAppend(path);
      closeSync(fd);
      fd = next;
    },
  });
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
  const health: Health = { state: 'starting' };
  let status = (): string => health.state;
  const notifier = serviceNotifier(process.env, log, () => status());
  closers.push(() => notifier.close());
  const reloads: Array<() => void> = [];
  let eventLog: EventLog | undefined;
  const eventsPath = stringFlag(args, 'events');
  const onHangup = (): void => {
    if (health.state === 'draining') return;
    notifier.reloading('reloading');
    if (eventLog) {
      try {
        eventLog.reopen();
        log(`SIGHUP: reopened the event log ${eventsPath}`);
      } catch (error) {
        log.warn(`SIGHUP: ${(error as Error).message}; still writing to the file opened before`);
      }
    }
    for (const reload of reloads) reload();
    notifier.ready(status());
  };
  process.on('SIGHUP', onHangup);
  closers.push(() => process.off('SIGHUP', onHangup));
  const drain = (reason: string): void => {
    if (health.state === 'draining') return;
    health.state = 'draining';
    notifier.stopping(reason);
  };
  const close = (): void => {
    drain('stopping');
    for (const c of closers.splice(0).reverse()) c();
  };
  try {
    closers.push(logSessionEvents(tracker, log));
    if (eventsPath) {
      eventLog = openEventLog(eventsPath, tracker);
      closers.push(eventLog);
      log(`event log ${eventsPath}`);
    }
    const metricsAt = stringFlag(args, 'metrics');
    if (metricsAt) {
      const { host, port } = parseHostPort(metricsAt, '--metrics', true);
      const { server, url } = await startMetricsServer(host, port, tracker, health);
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
    return {
      tracker,
      control,
      ready: (describe) => {
        status = describe;
        health.state = 'serving';
        notifier.ready(status());
      },
      onReload: (reload) => reloads.push(reload),
      drain,
      close,
    };
  } catch (error) {
    close();
    throw error;
  }
}
