// CPU awareness: two-process benches (sender + receiver) need two free cores to measure the
// runtime rather than the scheduler. Results carry this context so numbers can be judged.
import { availableParallelism, cpus, loadavg } from 'node:os';

export interface SystemInfo {
  cores: number;
  cpuModel: string;
  loadAverage1m: number;
  node: string;
  platform: string;
}

export function systemInfo(): SystemInfo {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/**
 * Warns on stderr when `busyProcesses` CPU-bound processes exceed the cores; returns whether
 * crowded. Load average is reported in results, not judged here: it lags and counts our own runs.
 */
export function warnIfCrowded(busyProcesses: number): boolean {
  const cores = availableParallelism();
  const crowded = busyProcesses > cores;
  if (crowded)
    progress(`warning: ${busyProcesses} busy processes on ${cores} cores; figures will be pessimistic`);
  return crowded;
}

/** Progress goes to stderr: stdout carries only the final JSON. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
