/**
 * The sd_notify protocol, spoken by Braid itself (no libsystemd): when a service manager
 * sets NOTIFY_SOCKET, the long-running commands say READY=1 once they serve, WATCHDOG=1 at
 * half of WATCHDOG_USEC, RELOADING=1 … READY=1 around a SIGHUP reload and STOPPING=1 when they
 * shut down, each with a STATUS= line. Without NOTIFY_SOCKET it does nothing. With it but no
 * way to send (the native addon missing), it says so once: readiness is never faked.
 */
import { type UnixDatagramSend, unixDatagramSender } from '../../endpoint/notify-socket.js';
import type { Logger } from '../shared/log.js';

export interface ServiceNotifier {
  /** Serving: READY=1 (also after a reload) and the status line. */
  ready(status: string): void;
  /** A reload begins (SIGHUP): RELOADING=1 with the monotonic time systemd asks for. */
  reloading(status: string): void;
  /** Shutting down: STOPPING=1 (the watchdog pings go on until close(): a drain takes time). */
  stopping(status: string): void;
  /** The status line alone. */
  status(status: string): void;
  /** Stops the watchdog pings. */
  close(): void;
}

/**
 * A notifier for this process's service manager, read from `env` (NOTIFY_SOCKET,
 * WATCHDOG_USEC, WATCHDOG_PID). `currentStatus` gives the STATUS= line sent with each
 * watchdog ping. `sender` is for tests; by default the native addon's.
 */
export function serviceNotifier(
  env: NodeJS.ProcessEnv,
  log: Logger,
  currentStatus: () => string | undefined = () => undefined,
  sender: { send?: UnixDatagramSend; error?: string } = env.NOTIFY_SOCKET ? unixDatagramSender() : {},
): ServiceNotifier {
  const socketPath = env.NOTIFY_SOCKET;
  const nothing: ServiceNotifier = {
    ready: () => undefined,
    reloading: () => undefined,
    stopping: () => undefined,
    status: () => undefined,
    close: () => undefined,
  };
  if (!socketPath) return nothing;
  const { send } = sender;
  if (!send) {
    log.warn(
      `NOTIFY_SOCKET is set but this process cannot notify it (${sender.error}): the service manager ` +
        'will see neither readiness nor watchdog pings; use Type=simple or build the addon',
    );
    return nothing;
  }
  let failures = 0;
  const notify = (fields: string[]): void => {
    try {
      send(socketPath, Buffer.from(fields.join('\n')));
    } catch (error) {
      // Said once; a manager that went away must not fill the log at every watchdog ping.
      if (failures++ === 0)
        log.warn(`cannot notify the service manager at ${socketPath}: ${(error as Error).message}`);
    }
  };
  const withStatus = (fields: string[], status: string | undefined): string[] =>
    status === undefined ? fields : [...fields, `STATUS=${status.replace(/\n/g, ' ')}`];

  const watchdogUsec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
  let watchdog: NodeJS.Timeout | undefined;
  if (forUs && Number.isSafeInteger(watchdogUsec) && watchdogUsec > 0) {
    // Half the interval, as sd_watchdog_enabled(3) advises: one late tick is not yet a miss.
    const everyMs = Math.max(1, Math.floor(watchdogUsec / 2000));
    watchdog = setInterval(() => notify(withStatus(['WATCHDOG=1'], currentStatus())), everyMs);
    watchdog.unref();
  }
  return {
    ready: (status) => notify(withStatus(['READY=1'], status)),
    reloading: (status) =>
      notify(withStatus(['RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`], status)),
    stopping: (status) => notify(withStatus(['STOPPING=1'], status)),
    status: (status) => notify(withStatus([], status)),
    close: () => clearInterval(watchdog),
  };
}
