// No failover when nothing failed (issue 14, item 0), on real sockets in the LAN lab: a client on
// both providers (a and b) and a server on both of its addresses move a paced bulk transfer,
// download and upload, with no fault injected. Every change of the client's active path is
// counted from the session's path events (the API's 'path' event, as `braid tunnel --events`
// logs them), from the handshake on: the target is zero. Two runs each way here;
// BRAID_LAB_SWITCH_RUNS=10 makes it the 10-run soak.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Lab } from '../../src/cli/demo/lab.js';
import { LabProcess, type Message } from '../../src/cli/demo/lab-process.js';

const availability = Lab.available();
const skip = availability.ok ? false : availability.reason;

const RUNS = Number(process.env.BRAID_LAB_SWITCH_RUNS ?? 2);
/** 32 MiB at 16 MiB/s: a 2-second bulk transfer, the LAN's sustained rate of the curl runs. */
const TRANSFER_BYTES = 32 * 1024 * 1024;
const RATE_BYTES_PER_SECOND = 16 * 1024 * 1024;
const TRANSFER_TIMEOUT_MS = 30_000;

/**
 * How many times the active path changed. A session starts active on its handshake path, path 0,
 * which announces no activation: every activation of another path is a switch.
 */
function activeSwitches(messages: readonly Message[]): { switches: number; trail: string[] } {
  const trail: string[] = ['path 0'];
  let active: unknown = 0;
  let switches = 0;
  for (const message of messages) {
    if (message.event !== 'path' || message.state !== 'active' || message.id === active) continue;
    switches++;
    active = message.id;
    trail.push(`path ${String(message.id)} ${String(message.local)}→${String(message.remote)}`);
  }
  return { switches, trail };
}

describe('no path switches without a fault (LAN lab)', { skip }, () => {
  let lab: Lab;
  let server: LabProcess;
  let port: number;
  let key: string;
  let clients: LabProcess[] = [];

  before(async () => {
    lab = await Lab.up();
    const { server1, server2 } = lab.addresses;
    server = new LabProcess(
      'server',
      lab.nodeIn(
        'server',
        'testing/agents/failover-server.ts',
        ['--bytes', String(TRANSFER_BYTES), '--rate', String(RATE_BYTES_PER_SECOND), server1.v4, server2.v4],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      ),
    );
    // Generous: starting Node with its TypeScript loader takes seconds on a busy machine.
    const listening = await server.next('listening', 30_000);
    port = Number(listening.port);
    key = String(listening.key);
  });

  afterEach(async () => {
    await Promise.all(clients.map((client) => client.settle(2000)));
    clients = [];
  });

  after(async () => {
    server?.stop();
    await lab?.down();
  });

  for (const direction of ['down', 'up'] as const) {
    test(`${direction}load: ${RUNS} runs without a fault change the active path zero times`, async () => {
      const { clientA, clientB, server1 } = lab.addresses;
      const counts: number[] = [];
      const trails: string[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const client = new LabProcess(
          'client',
          lab.nodeIn(
            'client',
            'testing/agents/failover-client.ts',
            [
              server1.v4,
              String(port),
              key,
              `${clientA.v4},${clientB.v4}`,
              String(TRANSFER_BYTES),
              String(RATE_BYTES_PER_SECOND),
              direction,
            ],
            { stdio: ['pipe', 'pipe', 'pipe'] },
          ),
        );
        clients.push(client);
        const finished = await client.next(direction === 'up' ? 'done' : 'received', TRANSFER_TIMEOUT_MS);
        assert.equal(finished.bytes, TRANSFER_BYTES, `run ${run}: every byte arrived`);
        const { switches, trail } = activeSwitches(client.messages);
        counts.push(switches);
        trails.push(`run ${run}: ${trail.join(' ⇒ ')}`);
        await client.settle(2000);
      }
      const total = counts.reduce((sum, n) => sum + n, 0);
      console.log(`${direction}load, no fault: active-path switches per run ${counts.join(', ')}`);
      assert.equal(total, 0, `active path changed with no fault:\n${trails.join('\n')}`);
    });
  }
});
