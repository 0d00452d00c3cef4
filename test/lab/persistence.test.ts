// Persistence over real sockets in the lab (issue 5): both client providers go down for 30 s in
// the middle of a paced upload; the session suspends, resumes when the links return, and the
// transfer completes with SHA-256 equal at both ends.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Lab } from '../../src/cli/demo/lab.js';
import { LabProcess } from '../../src/cli/demo/lab-process.js';

const availability = Lab.available();
const skip = availability.ok ? false : availability.reason;

const BYTES = 8 * 1024 * 1024;
const RATE = 2 * 1024 * 1024;
const OUTAGE_MS = 30_000;
/** The failure timeout: well inside the outage, so the session really suspends. */
const IDLE_MS = 5000;

describe('persistence over real sockets in the lab', { skip }, () => {
  let lab: Lab;
  const running: LabProcess[] = [];

  before(async () => {
    lab = await Lab.up();
  });

  after(async () => {
    for (const helper of running) helper.stop();
    await lab?.down();
  });

  test('a transfer survives a 30-second total outage (both links down) with SHA-256 equal', {
    timeout: 120_000,
  }, async () => {
    const { clientA, clientB, server1, server2 } = lab.addresses;
    const start = (name: string, ns: 'client' | 'server', script: string, args: string[]) => {
      const helper = new LabProcess(name, lab.nodeIn(ns, script, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
      running.push(helper);
      return helper;
    };
    const server = start('server', 'server', 'testing/agents/failover-server.ts', [server1.v4, server2.v4]);
    const listening = await server.next('listening', 10_000);
    const client = start('client', 'client', 'testing/agents/resume-client.ts', [
      server1.v4,
      String(listening.port),
      String(listening.key),
      `${clientA.v4},${clientB.v4}`,
      String(BYTES),
      String(RATE),
      String(IDLE_MS),
    ]);
    await client.next('ready', 15_000);
    await client.next('midway', 15_000);
    await Promise.all([lab.linkDown('a'), lab.linkDown('b')]);
    const downAt = performance.timeOrigin + performance.now();
    await client.next('suspended', IDLE_MS + 10_000);
    await new Promise((r) =>
      setTimeout(r, OUTAGE_MS - (performance.timeOrigin + performance.now() - downAt)),
    );
    const healStart = performance.timeOrigin + performance.now();
    await Promise.all([lab.linkUp('a'), lab.linkUp('b')]);
    const healEnd = performance.timeOrigin + performance.now();
    server.send({ faultStart: healStart, faultEnd: healEnd });
    const [sent, received] = await Promise.all([
      client.next('done', 60_000),
      server.next('received', 60_000),
    ]);
    assert.equal(received.bytes, BYTES, 'every byte arrived, none twice');
    assert.equal(received.sha256, sent.sha256, 'SHA-256 equal at both ends');
    assert.equal(sent.resumptions, 1, 'the session was suspended and resumed once');
    const resumed = client.messages.find((m) => m.event === 'resumed');
    console.log(
      `lab: ${((healStart - downAt) / 1000).toFixed(1)} s with both links down; resumed ` +
        `${(Number(resumed?.at) - healEnd).toFixed(0)} ms after the links came back; first new byte at the ` +
        `server ${Number(received.firstAfterMs).toFixed(0)} ms after (${Number(received.firstAfterFromStartMs).toFixed(0)} ms ` +
        `from the start of the link-up command); transfer ${Number(sent.seconds).toFixed(1)} s`,
    );
  });
});
