/**
 * One measured run of a lab bench: the helper processes it starts inside the lab's namespaces
 * are stopped afterwards whatever happens, a failure is recorded in the run's record (the bench
 * goes on with the next run) rather than thrown, and one progress line says how it went.
 */
import type { Lab } from '../../test/lab/lab.js';
import { LabProcess } from '../../test/lab/lab-process.js';
import { progress } from './system.js';

/** Starts a JSON-lines helper process in a lab namespace. */
export type Start = (name: string, ns: 'client' | 'server', command: string[]) => LabProcess;

export interface LabRunRecord {
  run: number;
  error?: string;
  [detail: string]: unknown;
}

export async function labRun<R extends LabRunRecord>(options: {
  lab: Lab;
  label: string;
  run: number;
  body: (start: Start, record: R) => Promise<void>;
  /** The progress line's text for a successful run. */
  describe: (record: R) => string;
  /** After the helpers are stopped (e.g. heal the lab, or let sockets drain). */
  cleanup: () => Promise<void>;
}): Promise<R> {
  const { lab, label, run } = options;
  const record = { run } as R;
  const running: LabProcess[] = [];
  const start: Start = (name, ns, command) => {
    const helper = new LabProcess(name, lab.spawnIn(ns, command, { stdio: ['pipe', 'pipe', 'pipe'] }));
    running.push(helper);
    return helper;
  };
  try {
    await options.body(start, record);
    progress(`${label} run ${run}: ${options.describe(record)}`);
  } catch (error) {
    record.error = error instanceof Error ? error.message : String(error);
    progress(`${label} run ${run} failed: ${record.error}`);
  } finally {
    for (const helper of running) helper.stop();
    await options.cleanup();
  }
  return record;
}
