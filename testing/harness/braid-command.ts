/** Runs the real `braid` command in child processes, each with its own config directory. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The CLI sources through tsx, exactly what bin/braid.js runs in a checkout with dev dependencies. */
export const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
export const COMMAND = ['--import', 'tsx', MAIN];

export interface Home {
  dir: string;
  env: NodeJS.ProcessEnv;
  configDir: string;
  cleanup(): void;
}

export function makeHome(): Home {
  const dir = mkdtempSync(join(tmpdir(), 'braid-cli-'));
  return {
    dir,
    // Text logs: most tests read the human messages; the log tests ask for JSON explicitly.
    // XDG_RUNTIME_DIR inside the home keeps control sockets apart from the real user's, and
    // BRAID_SYSTEM_CONTROL_DIR from the machine's /run/braid (which braid status also searches).
    env: {
      ...process.env,
      HOME: dir,
      XDG_CONFIG_HOME: dir,
      XDG_RUNTIME_DIR: join(dir, 'run'),
      BRAID_SYSTEM_CONTROL_DIR: join(dir, 'system-run'),
      BRAID_SOCKS_AUTH: '',
      BRAID_LOG_FORMAT: 'text',
      BRAID_LOG_LEVEL: '',
    },
    configDir: join(dir, 'braid'),
    // Retries: removal raced with a file being written there once (ENOTEMPTY) under load.
    cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }),
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runBraid(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { input?: string | Buffer; timeoutMs?: number; wrapper?: string[] } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // A wrapper (e.g. setpriv to drop root) runs in front of node.
    const [file, ...rest] = [...(options.wrapper ?? []), process.execPath, ...COMMAND, ...args];
    const child = spawn(file!, rest, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`braid ${args.join(' ')} did not exit in time\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running braid process (serve, tunnel, socks) whose stderr is watched. */
export class Daemon {
  readonly child: ChildProcess;
  stderr = '';
  /** What the process printed on stdout (braid vpn's ready line, say). */
  stdout = '';
  readonly #exited: Promise<number | null>;
  /** Exited and its output read to the end. */
  #closed = false;

  /** `wrapper` runs in front of node, e.g. ['ip', 'netns', 'exec', NS] to start it in a lab namespace. */
  constructor(args: string[], env: NodeJS.ProcessEnv, wrapper: string[] = []) {
    const [file, ...rest] = [...wrapper, process.execPath, ...COMMAND, ...args];
    this.child = spawn(file!, rest, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString();
    });
    this.child.stdout!.on('data', (c: Buffer) => {
      this.stdout += c.toString();
    });
    this.#exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    this.child.on('close', () => {
      this.#closed = true;
    });
  }

  /** Waits until stderr matches `pattern`; returns the match. Fails if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return this.#waitOn('stderr', pattern, timeoutMs);
  }

  /** Waits until stdout matches `pattern`, as waitFor does for stderr. */
  waitForStdout(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return this.#waitOn('stdout', pattern, timeoutMs);
  }

  #waitOn(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = this[stream].match(pattern);
        if (match) return finish(() => resolve(match));
        if (this.#closed) {
          finish(() =>
            reject(new Error(`process exited (${this.child.exitCode}) before ${pattern}:\n${this.stderr}`)),
          );
        }
      };
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.child[stream]!.off('data', onData);
        this.child.off('close', check);
        settle();
      };
      // After the text has been appended to by the constructor's listener.
      const onData = (): void => queueMicrotask(check);
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for ${pattern}:\n${this.stderr}`))),
        timeoutMs,
      );
      this.child[stream]!.on('data', onData);
      this.child.on('close', check);
      check();
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const code = await this.#exited;
    clearTimeout(timer);
    return code;
  }

  exited(): Promise<number | null> {
    return this.#exited;
  }
}

/** Starts `braid serve` on loopback with a fresh key; resolves with its port and public key. */
export async function startServer(
  home: Home,
  extraArgs: string[],
): Promise<{ daemon: Daemon; port: number; publicKey: string; url: string }> {
  const daemon = new Daemon(['serve', '--listen', '127.0.0.1:0', ...extraArgs], home.env);
  const [, port] = await daemon.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
  const [, publicKey] = await daemon.waitFor(/server key (\S+)/);
  await daemon.waitFor(/ready/);
  return { daemon, port: Number(port), publicKey: publicKey!, url: `braid://${publicKey}@127.0.0.1:${port}` };
}
