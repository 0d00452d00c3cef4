// One measured run of a lab bench (bench/failover.ts, bench/resume.ts): helper processes started
// in the lab's namespaces are stopped afterwards whatever happened, the lab is restored for the
// next run, and a failure is recorded in the run's record rather than thrown.
import type { Lab } from '../../test/lab/lab.js';
import { LabProcess } from '../../test/lab/lab-process.js';
import { progress } from './system.js';

export type StartHelper = (name: string, ns: 'client' | 'server', command: string[]) => LabProcess;

export interface LabRunRecord {
  run: number;
  error?: string;
}

export async function labRun<R extends LabRunRecord>(
  lab: Lab,
  label: string,
  record: R,
  body: (start: StartHelper, record: R) => Promise<void>,
  options: { describe(record: R): string; restore(): Promise<void> },
): Promise<R> {
  const running: LabProcess[] = [];
  const start: StartHelper = (name, ns, command) => {
    const helper = new LabProcess(name, lab.spawnIn(ns, command, { stdio: ['pipe', 'pipe', 'pipe'] }));
    running.push(helper);
    return helper;
  };
  try {
    await body(start, record);
    progress(`${label} run ${record.run}: ${options.describe(record)}`);
  } catch (error) {
    record.error = error instanceof Error ? error.message : String(error);
    progress(`${label} run ${record.run} failed: ${record.error}`);
  } finally {
    for (const helper of running) helper.stop();
    // Every run starts from a whole lab.
    await options.restore();
  }
  return record;
}
