/**
 * The session of a long-running client (`tunnel`, `socks`), kept up like autossh keeps ssh:
 * when the server cannot be reached at start, refuses our key, or the session closes, the
 * keeper tries again after a capped exponential delay with jitter, printing each attempt,
 * for as long as the process runs. `--exit-on-failure` gives up at the first failure instead,
 * with that failure's exit code, for scripts.
 */
import type { Session } from '../../index.js';
import type { FlagSpec } from './args.js';
import { type ClientOptions, connectToServer, type ServerTarget } from './client.js';
import { CliError, ExitCode } from './errors.js';

/** The delay before the first retry, ms; each later one doubles it, up to RETRY_MAX_DELAY_MS. */
export const RETRY_INITIAL_DELAY_MS = 1000;
export const RETRY_MAX_DELAY_MS = 60_000;
/** How long a connection accepted while the session is being re-established waits for it, ms. */
export const WAIT_FOR_SESSION_MS = 30_000;

export const RECONNECT_SPECS: Record<string, FlagSpec> = { 'exit-on-failure': { type: 'boolean' } };

export const RECONNECT_HELP = `  --exit-on-failure         exit when the server cannot be reached or refuses our key, at start
                            or when the session ends and one new attempt fails (exit 7, 8, ...),
                            instead of retrying forever (after 1 s, 2 s, 4 s ... up to 60 s,
                            each with random jitter); listeners stay bound while retrying`;

/**
 * The delay before retry number `attempt` (1 = the first retry): 1 s doubled per attempt,
 * at most 60 s, drawn uniformly from its upper half, so that clients a server outage cut off
 * together do not all come back in the same instant.
 */
export function retryDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_MAX_DELAY_MS, RETRY_INITIAL_DELAY_MS * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Failures no retry can mend: a changed host key or a bad command line needs a person. */
function isFatal(error: unknown): boolean {
  if (!(error instanceof CliError)) return false;
  return error.exitCode === ExitCode.HOST_KEY || error.exitCode === ExitCode.USAGE;
}

/** One line for a log: the messages of unreachable servers list each address on its own line. */
function oneLine(error: unknown): string {
  return (error as Error).message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

export interface KeeperOptions {
  exitOnFailure: boolean;
  /**
   * Called with each new session before connections use it (e.g. to set up -R forwards). A
   * failure on the first session stops the keeper with that error; on a later one it is logged.
   */
  onSession?: (session: Session) => Promise<void>;
  /** How long get() waits for a session while there is none, ms (default WAIT_FOR_SESSION_MS). */
  waitForSessionMs?: number;
}

export class SessionKeeper {
  readonly #target: ServerTarget;
  readonly #client: ClientOptions;
  readonly #options: KeeperOptions;
  #current: Session | undefined;
  #waiters: Array<{ resolve: (session: Session) => void; reject: (error: Error) => void }> = [];
  #stopping = false;
  #wakeUp: (() => void) | undefined;
  #failure: Error | undefined;
  readonly #failed: Promise<never>;
  #fail!: (error: Error) => void;
  #firstSession!: () => void;
  readonly #started: Promise<void>;

  constructor(target: ServerTarget, client: ClientOptions, options: KeeperOptions) {
    this.#target = target;
    this.#client = client;
    this.#options = options;
    this.#failed = new Promise<never>((_resolve, reject) => {
      this.#fail = reject;
    });
    this.#failed.catch(() => undefined);
    this.#started = new Promise<void>((resolve) => {
      this.#firstSession = resolve;
    });
  }

  /**
   * Starts keeping the session. Resolves once the first session is up; rejects with the error
   * that made the keeper give up (before or after that).
   */
  start(): Promise<void> {
    this.#run().catch((error: Error) => {
      this.#failure = error;
      for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
      this.#fail(error);
    });
    return Promise.race([this.#started, this.#failed]);
  }

  /** Rejects when the keeper gives up (only ever with --exit-on-failure or a fatal error). */
  get failed(): Promise<never> {
    return this.#failed;
  }

  /** The session, or the next one when it is being re-established (waiting at most waitForSessionMs). */
  get(): Promise<Session> {
    if (this.#current && !this.#current.closed) return Promise.resolve(this.#current);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (session: Session) => {
          clearTimeout(timer);
          resolve(session);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const waitMs = this.#options.waitForSessionMs ?? WAIT_FOR_SESSION_MS;
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no session to ${this.#target.label} within ${waitMs / 1000} s`));
      }, waitMs);
      this.#waiters.push(waiter);
    });
  }

  async #run(): Promise<void> {
    const label = this.#target.label;
    const log = this.#client.log;
    let failures = 0;
    let sessions = 0;
    while (!this.#stopping) {
      let session: Session;
      try {
        session = await connectToServer(this.#target, this.#client);
      } catch (error) {
        if (this.#stopping) return;
        if (this.#options.exitOnFailure || isFatal(error)) throw error;
        failures++;
        const delay = retryDelay(failures);
        log(
          `attempt ${failures} failed: ${oneLine(error)}; next attempt in ${(delay / 1000).toFixed(1)} s ` +
            '(--exit-on-failure exits instead)',
        );
        await this.#sleep(delay);
        continue;
      }
      if (this.#stopping) {
        await session.close(0, 'client exiting');
        return;
      }
      if (sessions > 0 || failures > 0) {
        log(`connected to ${label}${failures > 0 ? ` after ${failures + 1} attempts` : ''}`);
      }
      failures = 0;
      const closed = new Promise<Error | undefined>((resolve) => session.once('close', resolve));
      try {
        await this.#options.onSession?.(session);
      } catch (error) {
        if (sessions === 0) {
          await session.close(0, 'set-up failed');
          throw error;
        }
        log(`setting up the new session failed: ${(error as Error).message}`);
      }
      sessions++;
      this.#current = session;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve(session);
      this.#firstSession();
      const error = await closed;
      if (this.#stopping) return;
      // Not at once: a server that is shutting down may still accept a handshake in its last moments.
      const delay = retryDelay(1);
      log(
        `session to ${label} closed${error ? `: ${error.message}` : ''}; reconnecting in ${(delay / 1000).toFixed(1)} s`,
      );
      await this.#sleep(delay);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Stops retrying and closes the session (with a CLOSE, so the server forgets it at once). */
  async close(): Promise<void> {
    this.#stopping = true;
    this.#wakeUp?.();
    const stopped = new Error('the client is exiting');
    for (const waiter of this.#waiters.splice(0)) waiter.reject(stopped);
    await this.#current?.close(0, 'client exiting');
  }
}
