// A queue of messages with awaitable `next()`, used on both ends of the parent/child IPC channel.

export class MailboxClosedError extends Error {
  override name = 'MailboxClosedError';
}

export class MailboxTimeoutError extends Error {
  override name = 'MailboxTimeoutError';
}

interface Waiter {
  resolve: (data: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class Mailbox {
  private readonly queued: unknown[] = [];
  private readonly waiters: Waiter[] = [];
  private closedReason: string | undefined;

  push(data: unknown): void {
    if (this.closedReason !== undefined) return;
    const waiter = this.waiters.shift();
    if (waiter === undefined) {
      this.queued.push(data);
      return;
    }
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.resolve(data);
  }

  /** Resolves with the next message; rejects on close or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<unknown> {
    if (this.queued.length > 0) return Promise.resolve(this.queued.shift());
    if (this.closedReason !== undefined) return Promise.reject(new MailboxClosedError(this.closedReason));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new MailboxTimeoutError(`no message within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /** Rejects every pending and future `next()` once queued messages are drained. */
  close(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const waiter of this.waiters.splice(0)) {
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      waiter.reject(new MailboxClosedError(reason));
    }
  }
}
