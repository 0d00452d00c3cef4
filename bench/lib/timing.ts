// Time-boxed loops: run work for a fixed wall-clock budget instead of a fixed count, so a bench
// takes the same time on slow and fast machines. The clock is read once per batch to keep its
// cost out of cheap operations.

export interface LoopStats {
  iterations: number;
  seconds: number;
  perSecond: number;
}

export function nowNs(): bigint {
  return process.hrtime.bigint();
}

export function secondsSince(startNs: bigint): number {
  return Number(nowNs() - startNs) / 1e9;
}

export interface TimeBoxOptions {
  durationMs: number;
  /** Calls between clock reads (default 16). */
  batch?: number;
  /** Untimed calls before measuring, to let the JIT settle (default 0). */
  warmupIterations?: number;
}

function loopStats(iterations: number, seconds: number): LoopStats {
  return { iterations, seconds, perSecond: seconds > 0 ? iterations / seconds : Number.NaN };
}

/** Calls `fn` repeatedly for `durationMs`; at least one batch always runs. */
export function timeBoxed(fn: () => void, options: TimeBoxOptions): LoopStats {
  const batch = Math.max(1, options.batch ?? 16);
  for (let i = 0; i < (options.warmupIterations ?? 0); i++) fn();
  const budgetNs = BigInt(Math.round(options.durationMs * 1e6));
  const start = nowNs();
  let iterations = 0;
  do {
    for (let i = 0; i < batch; i++) fn();
    iterations += batch;
  } while (nowNs() - start < budgetNs);
  return loopStats(iterations, secondsSince(start));
}

/** Async variant: awaits each call in turn. */
export async function timeBoxedAsync(fn: () => Promise<void>, options: TimeBoxOptions): Promise<LoopStats> {
  const batch = Math.max(1, options.batch ?? 1);
  for (let i = 0; i < (options.warmupIterations ?? 0); i++) await fn();
  const budgetNs = BigInt(Math.round(options.durationMs * 1e6));
  const start = nowNs();
  let iterations = 0;
  do {
    for (let i = 0; i < batch; i++) await fn();
    iterations += batch;
  } while (nowNs() - start < budgetNs);
  return loopStats(iterations, secondsSince(start));
}

/**
 * Times individual calls (in microseconds) for `durationMs` or until `maxSamples`, for latency
 * percentiles. Each sample includes one clock read, so use it for calls well above ~100 ns.
 */
export async function sampleLatencies(
  fn: () => void | Promise<void>,
  options: { durationMs: number; maxSamples?: number },
): Promise<number[]> {
  const maxSamples = options.maxSamples ?? 100_000;
  const budgetNs = BigInt(Math.round(options.durationMs * 1e6));
  const samples: number[] = [];
  const start = nowNs();
  while (samples.length < maxSamples && nowNs() - start < budgetNs) {
    const before = nowNs();
    await fn();
    samples.push(Number(nowNs() - before) / 1e3);
  }
  return samples;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
