// Failover over real sockets in the lab: a Braid server on both server links, a client on both
// providers with a warm standby, a paced 16 MiB upload, and a fault on the provider link the
// active path uses, applied mid-transfer. Every byte must arrive (SHA-256 equal at both ends);
// the failover gap (fault to the next newly delivered byte at the receiver) is logged.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Lab, type LabLink } from './lab.js';
import { LabProcess } from './lab-process.js';

const availability = Lab.available();
const skip = availability.ok ? false : availability.reason;

const TRANSFER_BYTES = 16 * 1024 * 1024;
/** 4 MiB/s: a 4 s transfer, so the fault (at a quarter) leaves seconds of data to move after it. */
const RATE_BYTES_PER_SECOND = 4 * 1024 * 1024;
/** Generous: the transfer takes ~4 s plus the failover; a stuck session fails the test here. */
const TRANSFER_TIMEOUT_MS = 15_000;

interface Fault {
  apply(lab: Lab, link: LabLink): Promise<void>;
  restore(lab: Lab, link: LabLink): Promise<void>;
}

const faults: Record<string, Fault> = {
  'a silent blackhole of the active provider, both ways': {
    apply: (lab, link) => lab.blackhole(link, 'both'),
    restore: (lab, link) => lab.heal(link),
  },
  'the active provider link going down': {
    apply: (lab, link) => lab.linkDown(link),
    restore: (lab, link) => lab.linkUp(link),
  },
  "the client's active address being removed": {
    apply: (lab, link) => lab.removeAddress(link, 'v4'),
    restore: (lab, link) => lab.addAddress(link, 'v4'),
  },
};

describe('failover over real sockets in the lab', { skip }, () => {
  let lab: Lab;
  let running: LabProcess[] = [];
  let restore: (() => Promise<void>) | undefined;

  before(async () => {
    lab = await Lab.up();
  });

  afterEach(async () => {
    for (const helper of running) helper.stop();
    running = [];
    // Undo the fault so the next case starts from a whole lab, even when this one failed.
    await restore?.();
    restore = undefined;
  });

  after(async () => {
    await lab?.down();
  });

  function start(name: string, ns: 'client' | 'server', script: string, args: string[]): LabProcess {
    const helper = new LabProcess(name, lab.nodeIn(ns, script, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    running.push(helper);
    return helper;
  }

  for (const [title, fault] of Object.entries(faults)) {
    test(`a 16 MiB upload survives ${title}`, async () => {
      const { clientA, clientB, server1, server2 } = lab.addresses;
      const server = start('server', 'server', 'test/lab/failover-server.ts', [server1.v4, server2.v4]);
      const listening = await server.next('listening', 10_000);

      const client = start('client', 'client', 'test/lab/failover-client.ts', [
        server1.v4,
        String(listening.port),
        String(listening.key),
        `${clientA.v4},${clientB.v4}`,
        String(TRANSFER_BYTES),
        String(RATE_BYTES_PER_SECOND),
      ]);
      const ready = await client.next('ready', 15_000);
      const active = ready.active as { local: string; remote: string } | undefined;
      const standby = ready.standby as { local: string; remote: string } | undefined;
      assert.ok(active, 'the session has an active path');
      assert.ok(standby, 'a warm standby was validated before the transfer');
      assert.notEqual(standby.local, active.local, 'the standby uses the other provider');
      const link: LabLink = active.local === clientA.v4 ? 'a' : 'b';

      await client.next('midway', TRANSFER_TIMEOUT_MS);
      const faultStart = performance.timeOrigin + performance.now();
      restore = () => fault.restore(lab, link);
      await fault.apply(lab, link);
      // The fault takes effect somewhere inside the lab command; its end is the conservative instant.
      const faultAt = performance.timeOrigin + performance.now();
      server.send({ faultStart, faultEnd: faultAt });

      const [sent, received] = await Promise.all([
        client.next('done', TRANSFER_TIMEOUT_MS),
        server.next('received', TRANSFER_TIMEOUT_MS),
      ]);
      assert.equal(received.bytes, TRANSFER_BYTES, 'every byte arrived, none twice');
      assert.equal(received.sha256, sent.sha256, 'SHA-256 equal at both ends');

      const finalActive = (sent.paths as { local: string; state: string }[]).find(
        (p) => p.state === 'active',
      );
      const failed = client.messages.find(
        (m) =>
          m.event === 'path' && (m.state === 'failed' || m.state === 'removed') && m.local === active.local,
      );
      const moved = client.messages.find(
        (m) =>
          m.event === 'path' && m.state === 'active' && m.local !== active.local && Number(m.at) > faultAt,
      );
      console.log(
        `lab failover (${title}, provider ${link}): gap ${Number(received.gapMs).toFixed(0)}` +
          `–${Number(received.gapFromStartMs).toFixed(0)} ms from the fault to the next new byte at the` +
          ` server (measured from the end / start of the ${(faultAt - faultStart).toFixed(0)} ms lab command);` +
          ` client moved to ${finalActive?.local ?? '?'}` +
          (moved ? ` ${(Number(moved.at) - faultAt).toFixed(0)} ms after the fault` : '') +
          (failed
            ? `; old path ${String(failed.state)} at +${(Number(failed.at) - faultAt).toFixed(0)} ms`
            : '') +
          `; transfer ${Number(sent.seconds).toFixed(1)} s`,
      );
      assert.notEqual(finalActive?.local, active.local, 'the session left the faulty provider');
    });
  }
});
