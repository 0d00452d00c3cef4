// A helper process inside a lab namespace that speaks JSON lines on stdout (one event each) and
// takes JSON lines on stdin; stderr is kept for failure messages. braid demo's agents are such
// processes, and so are the transfer agents of the lab tests and benches.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export type Message = { event: string; [key: string]: unknown };

export class LabProcess {
  readonly messages: Message[] = [];
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  private stderr = '';
  private exitCode: number | null | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<(message: Message) => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: Message;
      try {
        message = JSON.parse(line) as Message;
      } catch {
        this.stderr += `${line}\n`;
        this.wake();
        return;
      }
      this.messages.push(message);
      for (const listener of [...this.listeners]) listener(message);
      this.wake();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    // Writing to a process that has just exited must not crash this one.
    child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        this.exitCode = code;
        this.wake();
        resolve();
      });
    });
  }

  /** Calls `handler` with every message of that event from now on. */
  on(event: string, handler: (message: Message) => void): void {
    this.listeners.add((message) => {
      if (message.event === event) handler(message);
    });
  }

  /**
   * The first message of that event (already seen or arriving) at index `since` or later of
   * `messages`; rejects on exit, error or timeout.
   */
  next(event: string, timeoutMs: number, since = 0): Promise<Message> {
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        const found = this.messages.find((m, i) => i >= since && m.event === event);
        if (found) return finish(() => resolvePromise(found));
        const error = this.messages.find((m, i) => i >= since && m.event === 'error');
        if (error) return finish(() => reject(new Error(`${this.name}: ${String(error.message)}`)));
        if (this.exitCode !== undefined) {
          finish(() =>
            reject(
              new Error(`${this.name} exited (${this.exitCode}) before '${event}': ${this.stderr.trim()}`),
            ),
          );
        }
      };
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(`${this.name}: no '${event}' in ${timeoutMs} ms; stderr: ${this.stderr.trim()}`),
            ),
          ),
        timeoutMs,
      );
      this.waiters.add(check);
      check();
    });
  }

  send(message: object): void {
    this.child.stdin?.write(`${JSON.stringify(message)}\n`);
  }

  /** Waits up to `timeoutMs` for the process to exit on its own (e.g. after closing its session), then stops it. */
  async settle(timeoutMs: number): Promise<void> {
    if (this.exitCode === undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.stop();
  }

  /** Closes stdin and sends SIGTERM, without waiting. */
  stop(): void {
    this.child.stdin?.end();
    if (this.exitCode === undefined) this.child.kill('SIGTERM');
  }

  /** Closes stdin (an agent's cue to shut down) and waits for the exit; SIGKILL after `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL, for teardown from a signal handler. */
  kill(): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
