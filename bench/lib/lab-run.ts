// One measured run of a lab bench (bench/failover.ts, bench/resume.ts, bench/aggregate.ts):
// helper processes started in the lab's namespaces are stopped afterwards whatever happened, the
// lab is restored for the next run, and a failure is recorded in the run's record rather than
// thrown.
import type { Lab } from '../../src/cli/demo/lab.js';
import { LabProcess } from '../../src/cli/demo/lab-process.js';
import { progress } from './system.js';

export type StartHelper = (name: string, ns: 'client' | 'server', command: string[]) => LabProcess;

export interface LabRunRecord {
  run: number;
  error?: string;
  /** Whatever else a bench records about the run (it ends up in the JSON). */
  [detail: string]: unknown;
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

const BRAID_SERVER = 'testing/agents/failover-server.ts';
const START_TIMEOUT_MS = 15_000;

/**
 * A Braid transfer in the lab (bench/resume.ts): testing/agents/failover-server.ts on both server
 * links, and `clientScript` on both client providers sending `bytes` at `rate` (then `extraArgs`).
 */
export async function startBraidTransfer(
  lab: Lab,
  start: StartHelper,
  clientScript: string,
  transfer: { bytes: number; rate: number },
  extraArgs: string[] = [],
): Promise<{ server: LabProcess; client: LabProcess }> {
  const { clientA, clientB, server1, server2 } = lab.addresses;
  const node = [process.execPath, '--import', 'tsx'];
  const server = start('braid server', 'server', [...node, BRAID_SERVER, server1.v4, server2.v4]);
  const listening = await server.next('listening', START_TIMEOUT_MS);
  const client = start('braid client', 'client', [
    ...node,
    clientScript,
    server1.v4,
    String(listening.port),
    String(listening.key),
    `${clientA.v4},${clientB.v4}`,
    String(transfer.bytes),
    String(transfer.rate),
    ...extraArgs,
  ]);
  return { server, client };
}
