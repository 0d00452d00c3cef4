// Failover over real sockets in the lab, with default settings: a Braid server on every
// interface of the server namespace (watched), a client on every interface of one family of
// the client namespace (watched), a paced 8 MiB transfer, upload or download, and a fault
// applied mid-transfer. Every byte must arrive (SHA-256 equal at both ends); the failover gap
// (fault to the next newly delivered byte at the receiving application) is logged.
//   - client faults, each both ways and over IPv4 and IPv6: a silent blackhole of the active
//     provider, its link going down, and the client's address changing (roaming: the client
//     loses its only address and gains a new one);
//   - server address changes: an address added mid-session is advertised (the client opens a
//     standby to it), and removing the dialled address moves the session there.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Lab, type LabFamily, type LabLink } from '../../src/cli/demo/lab.js';
import { LabProcess, type Message } from '../../src/cli/demo/lab-process.js';

const availability = Lab.available();
const skip = availability.ok ? false : availability.reason;

const TRANSFER_BYTES = 8 * 1024 * 1024;
/** 4 MiB/s: a 2 s transfer, so the fault (at a quarter) leaves 1.5 s of data to move after it. */
const RATE_BYTES_PER_SECOND = 4 * 1024 * 1024;
/** Generous: the transfer takes ~2 s plus the failover; a stuck session fails the test here. */
const TRANSFER_TIMEOUT_MS = 15_000;
/** The address the client gains when it roams, per family (on provider a). */
const ROAMED: Record<LabFamily, string> = { v4: '192.0.2.20', v6: '2001:db8:a::20' };

type Direction = 'up' | 'down';
type PathMessage = { local: string; remote: string; state: string };

describe('failover over real sockets in the lab', { skip }, () => {
  let lab: Lab;
  let server: LabProcess;
  let port: number;
  let key: string;
  let clients: LabProcess[] = [];
  let undo: Array<() => Promise<void>> = [];

  before(async () => {
    lab = await Lab.up();
    server = new LabProcess(
      'server',
      lab.nodeIn(
        'server',
        'testing/agents/failover-server.ts',
        ['--bytes', String(TRANSFER_BYTES), '--rate', String(RATE_BYTES_PER_SECOND), 'all'],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      ),
    );
    const listening = await server.next('listening', 10_000);
    port = Number(listening.port);
    key = String(listening.key);
  });

  afterEach(async () => {
    // A client closes its session before it exits: no half-dead session is left on the server.
    await Promise.all(clients.map((client) => client.settle(2000)));
    clients = [];
    // Undo the test's lab changes (latest first), so the next case starts from a whole lab.
    for (const step of undo.reverse()) await step().catch(() => undefined);
    undo = [];
    await serverBound(allServerAddresses());
  });

  after(async () => {
    server?.stop();
    await lab?.down();
  });

  const allServerAddresses = () => {
    const { server1, server2 } = lab.addresses;
    return [server1.v4, server2.v4, server1.v6, server2.v6];
  };

  /** Waits until the server's watched sockets cover (or, with `absent`, exclude) these addresses. */
  async function serverBound(present: string[], absent: string[] = []): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const latest = [...server.messages]
        .reverse()
        .find((m) => m.event === 'addresses' || m.event === 'listening');
      const bound = (latest?.addresses as string[] | undefined) ?? [];
      if (present.every((a) => bound.includes(a)) && absent.every((a) => !bound.includes(a))) return;
      if (Date.now() > deadline) throw new Error(`server bound ${bound.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A lab change undone after the test. */
  async function change(apply: () => Promise<void>, revert: () => Promise<void>): Promise<void> {
    undo.push(revert);
    await apply();
  }

  function startClient(
    family: LabFamily,
    direction: Direction,
    env: Record<string, string> = {},
  ): LabProcess {
    const client = new LabProcess(
      'client',
      lab.nodeIn(
        'client',
        'testing/agents/failover-client.ts',
        [
          lab.addresses.server1[family],
          String(port),
          key,
          `all:${family}`,
          String(TRANSFER_BYTES),
          String(RATE_BYTES_PER_SECOND),
          direction,
        ],
        { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } },
      ),
    );
    clients.push(client);
    return client;
  }

  /**
   * Runs one transfer; `fault` is applied when the sender has written a quarter (after
   * `beforeFault`, if given). Checks the hashes; returns the client's final paths and the gap.
   */
  async function transfer(
    client: LabProcess,
    direction: Direction,
    fault: () => Promise<void>,
    beforeFault?: () => Promise<void>,
  ): Promise<{ paths: PathMessage[]; gapMs: number; faultAt: number }> {
    const since = server.messages.length;
    const sender = direction === 'up' ? client : server;
    const receiver = direction === 'up' ? server : client;
    const mark = (p: LabProcess) => (p === server ? since : 0);
    await sender.next('midway', TRANSFER_TIMEOUT_MS, mark(sender));
    await beforeFault?.();
    const faultStart = performance.timeOrigin + performance.now();
    await fault();
    // The fault takes effect somewhere inside the lab command; its end is the conservative instant.
    const faultAt = performance.timeOrigin + performance.now();
    receiver.send({ faultStart, faultEnd: faultAt });
    const [sent, received] = await Promise.all([
      sender.next('done', TRANSFER_TIMEOUT_MS, mark(sender)),
      receiver.next('received', TRANSFER_TIMEOUT_MS, mark(receiver)),
    ]);
    assert.equal(received.bytes, TRANSFER_BYTES, 'every byte arrived, none twice');
    assert.equal(received.sha256, sent.sha256, 'SHA-256 equal at both ends');
    const paths = ((direction === 'up' ? sent : received).paths ?? []) as PathMessage[];
    return { paths, gapMs: Number(received.gapMs), faultAt };
  }

  function report(
    title: string,
    client: LabProcess,
    result: { paths: PathMessage[]; gapMs: number; faultAt: number },
  ) {
    const active = result.paths.find((p) => p.state === 'active');
    const moved = client.messages.find(
      (m: Message) => m.event === 'path' && m.state === 'active' && Number(m.at) > result.faultAt,
    );
    console.log(
      `lab failover (${title}): gap ${result.gapMs.toFixed(0)} ms from the fault to the next new byte at the` +
        ` receiver; active path now ${active?.local} -> ${active?.remote}` +
        (moved ? `, moved ${(Number(moved.at) - result.faultAt).toFixed(0)} ms after the fault` : ''),
    );
    if (process.env.BRAID_LAB_VERBOSE) {
      for (const m of client.messages.filter(
        (m) => m.event === 'path' && Number(m.at) > result.faultAt - 50,
      )) {
        console.log(
          `  +${(Number(m.at) - result.faultAt).toFixed(0)} ms path ${m.id} ${m.local} -> ${m.remote} ${m.state}`,
        );
      }
    }
    return active;
  }

  const clientFaults: Record<
    string,
    { link: boolean; apply(link: LabLink, family: LabFamily): Promise<void> }
  > = {
    'a silent blackhole of the active provider': {
      link: true,
      apply: (link) =>
        change(
          () => lab.blackhole(link, 'both'),
          () => lab.heal(link),
        ),
    },
    'the active provider link going down': {
      link: true,
      apply: (link) =>
        change(
          () => lab.linkDown(link),
          () => lab.linkUp(link),
        ),
    },
  };

  for (const family of ['v4', 'v6'] as const) {
    for (const direction of ['up', 'down'] as const) {
      for (const [title, fault] of Object.entries(clientFaults)) {
        test(`${family} ${direction}load survives ${title}`, async () => {
          const client = startClient(family, direction);
          const ready = await client.next('ready', 15_000);
          const active = ready.active as PathMessage | undefined;
          const standby = ready.standby as PathMessage | undefined;
          assert.ok(active, 'the session has an active path');
          assert.ok(standby, 'a warm standby was validated before the transfer');
          const { clientA, clientB } = lab.addresses;
          assert.ok([clientA[family], clientB[family]].includes(active.local), 'discovered addresses in use');
          assert.notEqual(standby.local, active.local, 'the standby uses the other provider');
          const link: LabLink = active.local === clientA[family] ? 'a' : 'b';
          const result = await transfer(client, direction, () => fault.apply(link, family));
          const now = report(`${family} ${direction}, ${title} (${link})`, client, result);
          assert.notEqual(now?.local, active.local, 'the session left the faulty provider');
        });
      }

      test(`${family} ${direction}load survives the client roaming to a new address`, async () => {
        const { clientA } = lab.addresses;
        // Single-homed on provider a: when its address goes, only the new one can carry the session.
        await change(
          () => lab.removeAddress('b', family),
          () => lab.addAddress('b', family),
        );
        const client = startClient(family, direction, { STANDBY_WAIT_MS: '1000' });
        const ready = await client.next('ready', 15_000);
        assert.equal((ready.active as PathMessage).local, clientA[family]);
        const result = await transfer(client, direction, async () => {
          await change(
            () => lab.removeAddress('a', family),
            () => lab.addAddress('a', family),
          );
          await change(
            () => lab.addAddress('a', family, ROAMED[family]),
            () => lab.removeAddress('a', family, ROAMED[family]),
          );
        });
        const now = report(`${family} ${direction}, roaming to ${ROAMED[family]}`, client, result);
        assert.equal(now?.local, ROAMED[family], 'the session moved to the new address');
      });
    }
  }

  for (const [family, direction] of [
    ['v4', 'up'],
    ['v6', 'down'],
  ] as const) {
    test(`${family} ${direction}load: a server address added mid-session is advertised, and the session leaves the removed dialled one`, async () => {
      const { server1, server2 } = lab.addresses;
      await change(
        () => lab.removeAddress('b', family),
        () => lab.addAddress('b', family),
      );
      await change(
        () => lab.removeAddress('s2', family),
        () => lab.addAddress('s2', family),
      );
      await serverBound([server1[family]], [server2[family]]);
      const client = startClient(family, direction, { STANDBY_WAIT_MS: '0' });
      const ready = await client.next('ready', 15_000);
      assert.equal(ready.standby, undefined, 'one address pair only: no standby yet');
      let added = 0;
      const result = await transfer(
        client,
        direction,
        () =>
          change(
            () => lab.removeAddress('s1', family),
            () => lab.addAddress('s1', family),
          ),
        async () => {
          // The new server address: bound by the server's watcher, advertised, validated by the client.
          const since = client.messages.length;
          const addedAt = performance.now();
          await lab.addAddress('s2', family);
          const standby = await client.next('path', 5000, since).then(async () => {
            const deadline = Date.now() + 5000;
            for (;;) {
              const hit = client.messages.find(
                (m, i) =>
                  i >= since && m.event === 'path' && m.state === 'standby' && m.remote === server2[family],
              );
              if (hit) return hit;
              if (Date.now() > deadline) throw new Error('no standby to the added server address');
              await new Promise((r) => setTimeout(r, 10));
            }
          });
          added = performance.now() - addedAt;
          assert.equal(standby.remote, server2[family]);
        },
      );
      console.log(
        `lab: the added server address carried a validated standby ${added.toFixed(0)} ms after it appeared`,
      );
      const now = report(`${family} ${direction}, dialled server address removed`, client, result);
      assert.equal(now?.remote, server2[family], 'the session moved to the other server address');
    });
  }
});
