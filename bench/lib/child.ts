// Parent side: run an exported function of a TS module in a separate Node process (with the tsx
// loader) and talk to it over JSON IPC. Separate processes give sender and receiver their own
// event loop and core, as real peers have.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mailbox } from './mailbox.js';
import type { FromChild, ToChild } from './protocol.js';

export type { Channel, ChildFunction } from './protocol.js';

const libDir = dirname(fileURLToPath(import.meta.url));
/** Repository root, so `--import tsx` resolves from our node_modules whatever the caller's cwd. */
export const repoRoot = resolve(libDir, '..', '..');
const entryPath = resolve(libDir, 'child-entry.ts');

export class ChildRunError extends Error {
  override name = 'ChildRunError';
}

export interface ChildRun<Output> {
  readonly pid: number | undefined;
  post(data: unknown): void;
  /** Next message the child posted; rejects once the child has exited with nothing queued. */
  next(timeoutMs?: number): Promise<unknown>;
  /** The function's return value; rejects if it threw, the child died, or the time limit passed. */
  readonly result: Promise<Output>;
  kill(): void;
}

export interface ChildRunOptions {
  /** Kill the child if it has not returned within this time (default 60 s). */
  timeoutMs?: number;
}

/** BRAID_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every bench child process there. */
function profileFlags(): string[] {
  const dir = process.env.BRAID_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

function toPath(module: string | URL): string {
  if (module instanceof URL) return fileURLToPath(module);
  return module.startsWith('file:') ? fileURLToPath(module) : resolve(module);
}

/**
 * Spawns `node --import tsx` running `exportName(input, channel)` from `module` (a path or file
 * URL, e.g. `import.meta.url`). Child stdout is redirected to our stderr so it never mixes with
 * the bench's JSON output.
 */
export function runInChild<Output>(
  module: string | URL,
  exportName: string,
  input: unknown,
  options: ChildRunOptions = {},
): ChildRun<Output> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...profileFlags(), '--import', 'tsx', entryPath, toPath(module), exportName],
    { cwd: repoRoot, stdio: ['ignore', 2, 'inherit', 'ipc'], serialization: 'json' },
  );
  const mailbox = new Mailbox();
  const timeoutMs = options.timeoutMs ?? 60_000;

  const result = new Promise<Output>((resolveResult, rejectResult) => {
    let settled = false;
    const settle = (error: Error | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolveResult(value as Output);
      else rejectResult(error);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle(new ChildRunError(`${exportName} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (message: FromChild) => {
      if (message.type === 'message') mailbox.push(message.data);
      else if (message.type === 'result') settle(undefined, message.value);
      else if (message.type === 'error') {
        const error = new ChildRunError(`${exportName} failed in child: ${message.message}`);
        if (message.stack !== undefined) error.stack = message.stack;
        settle(error);
      }
    });
    child.on('error', (error) => settle(new ChildRunError(`cannot spawn child: ${error.message}`)));
    // 'close' rather than 'exit': it fires after the IPC channel has delivered every message.
    child.on('close', (code, signal) => {
      mailbox.close(`child exited (${signal ?? code})`);
      settle(new ChildRunError(`${exportName} child exited (${signal ?? `code ${code}`}) without a result`));
    });
  });
  // Callers that only use post/next must not crash the process with an unhandled rejection.
  result.catch(() => {});

  const sendToChild = (message: ToChild): void => {
    if (child.connected) child.send(message);
  };
  sendToChild({ type: 'start', input });

  return {
    pid: child.pid,
    post: (data) => sendToChild({ type: 'message', data }),
    next: (timeout) => mailbox.next(timeout),
    result,
    kill: () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // A profiled child writes its profile as it exits: give it time to do so.
      if (process.env.BRAID_BENCH_CPU_PROF) setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      else child.kill('SIGKILL');
    },
  };
}
