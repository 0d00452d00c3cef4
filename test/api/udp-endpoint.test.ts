import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AddressInUseError } from '../../src/api/errors.js';
import { UdpEndpoint } from '../../src/endpoint/udp-endpoint.js';
import type {
  ConnectionEvent,
  EndpointEvent,
  EngineConnection,
  EngineEndpoint,
} from '../../src/engine/types.js';
import type { SocketAddress, Transmit } from '../../src/net/address.js';
import { socketBackendsUnderTest } from '../../testing/harness/socket-backends.js';

/**
 * A scripted engine: echoes every datagram back on the address pair it came from,
 * records calls, and exposes a settable deadline. Enough to observe the shell alone.
 */
class EchoEngine implements EngineEndpoint {
  readonly received: Array<{ data: Uint8Array; local: SocketAddress; remote: SocketAddress }> = [];
  readonly outbox: Transmit[] = [];
  readonly endpointEvents: EndpointEvent[] = [];
  readonly timeouts: number[] = [];
  readonly connections: FakeConnection[] = [];
  deadline: number | undefined;
  readonly stats = { drops: {}, datagramsReceived: 0, datagramsSent: 0 };

  receive(input: Uint8Array, local: SocketAddress, remote: SocketAddress): void {
    // The shell may reuse its receive buffer after the call (EngineEndpoint.receive): keep a copy.
    const data = Buffer.from(input);
    this.received.push({ data, local, remote });
    this.outbox.push({ local, remote, data });
  }
  pollTransmit(): Transmit | undefined {
    return this.outbox.shift();
  }
  nextDeadline(): number | undefined {
    return this.deadline;
  }
  onTimeout(now: number): void {
    this.timeouts.push(now);
    this.deadline = undefined;
  }
  pollEndpointEvent(): EndpointEvent | undefined {
    return this.endpointEvents.shift();
  }
  connect(remote: SocketAddress, local: SocketAddress): EngineConnection {
    const connection = new FakeConnection(this, local, remote);
    this.connections.push(connection);
    return connection as unknown as EngineConnection;
  }
  drainDirty(): EngineConnection[] {
    return [];
  }
}

class FakeConnection {
  state: EngineConnection['state'] = 'established';
  closedWith: number | undefined;
  constructor(
    private readonly engine: EchoEngine,
    readonly local: SocketAddress,
    readonly remote: SocketAddress,
  ) {}
  close(code: number): void {
    this.closedWith = code;
    this.state = 'closed';
    this.engine.endpointEvents.push({
      type: 'connection-closed',
      connection: this as unknown as EngineConnection,
    });
  }
}

const ignoreEvents = { onConnectionEvent: (_c: EngineConnection, _e: ConnectionEvent) => {} };

async function clientSocket(type: 'udp4' | 'udp6', host: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return socket;
}

for (const backend of socketBackendsUnderTest()) {
  test(`${backend}: binds IPv4 and IPv6 on one free port and echoes through the engine with the right local address`, async () => {
    const engine = new EchoEngine();
    const endpoint = await UdpEndpoint.bind(
      engine,
      [
        { host: '127.0.0.1', port: 0 },
        { host: '::1', port: 0 },
      ],
      ignoreEvents,
      { socketBackend: backend },
    );
    try {
      const [v4, v6] = endpoint.localAddresses;
      assert.equal(v4!.family, 'IPv4');
      assert.equal(v6!.family, 'IPv6');
      assert.equal(v4!.port, v6!.port, 'port 0 resolves to one shared port');
      for (const [type, host, local] of [
        ['udp4', '127.0.0.1', v4!],
        ['udp6', '::1', v6!],
      ] as const) {
        const client = await clientSocket(type, host);
        client.send(Buffer.from(`hello ${type}`), local.port, host);
        const [reply] = await once(client, 'message');
        assert.equal(reply.toString(), `hello ${type}`);
        assert.deepEqual(engine.received.at(-1)!.local, local);
        assert.equal(engine.received.at(-1)!.remote.port, client.address().port);
        client.close();
      }
    } finally {
      endpoint.destroy();
    }
  });

  test(`${backend}: a burst of datagrams is handled in far fewer flushes than datagrams`, async () => {
    const engine = new EchoEngine();
    const endpoint = await UdpEndpoint.bind(engine, [{ host: '127.0.0.1', port: 0 }], ignoreEvents, {
      socketBackend: backend,
    });
    const client = await clientSocket('udp4', '127.0.0.1');
    try {
      const count = 50;
      let replies = 0;
      const done = new Promise<void>((resolve) =>
        client.on('message', () => {
          if (++replies === count) resolve();
        }),
      );
      for (let i = 0; i < count; i++)
        client.send(Buffer.from([i]), endpoint.localAddresses[0]!.port, '127.0.0.1');
      await done;
      assert.equal(endpoint.stats.datagramsReceived, count);
      assert.equal(endpoint.stats.datagramsSent, count);
      assert.ok(endpoint.stats.flushes < count, `flushes ${endpoint.stats.flushes} should coalesce`);
    } finally {
      client.close();
      endpoint.destroy();
    }
  });

  test(`${backend}: transmits with an unknown local use the family socket; a missing family is a counted drop`, async () => {
    const engine = new EchoEngine();
    const endpoint = await UdpEndpoint.bind(engine, [{ host: '0.0.0.0', port: 0 }], ignoreEvents, {
      socketBackend: backend,
    });
    const client = await clientSocket('udp4', '127.0.0.1');
    const drops: unknown[] = [];
    const onDrop = (message: unknown) => drops.push(message);
    diagnosticsChannel.subscribe('braid:endpoint:drop', onDrop);
    try {
      const remote: SocketAddress = { address: '127.0.0.1', port: client.address().port, family: 'IPv4' };
      engine.outbox.push({
        local: { address: '192.0.2.7', port: 1, family: 'IPv4' },
        remote,
        data: Buffer.from('x'),
      });
      engine.outbox.push({
        local: { address: '::1', port: 1, family: 'IPv6' },
        remote: { address: '::1', port: 9, family: 'IPv6' },
        data: Buffer.from('y'),
      });
      endpoint.scheduleFlush();
      const [reply] = await once(client, 'message');
      assert.equal(reply.toString(), 'x');
      assert.equal(endpoint.stats.noSocketDrops, 1);
      assert.equal(drops.length, 1);
      assert.equal((drops[0] as { reason: string }).reason, 'no-socket');
    } finally {
      diagnosticsChannel.unsubscribe('braid:endpoint:drop', onDrop);
      client.close();
      endpoint.destroy();
    }
  });

  test(`${backend}: send failures are counted by code, never thrown`, async () => {
    const engine = new EchoEngine();
    const endpoint = await UdpEndpoint.bind(engine, [{ host: '127.0.0.1', port: 0 }], ignoreEvents, {
      socketBackend: backend,
    });
    try {
      const local = endpoint.localAddresses[0]!;
      // Port 0 is refused synchronously by dgram; a broadcast address fails in the kernel without SO_BROADCAST.
      engine.outbox.push({
        local,
        remote: { address: '127.0.0.1', port: 0, family: 'IPv4' },
        data: Buffer.from('a'),
      });
      engine.outbox.push({
        local,
        remote: { address: '255.255.255.255', port: 9, family: 'IPv4' },
        data: Buffer.from('b'),
      });
      endpoint.scheduleFlush();
      await sleep(50);
      const codes = Object.keys(endpoint.stats.sendErrors);
      // dgram refuses port 0 itself; the kernel answers EINVAL to the native back-end.
      const portCode = backend === 'dgram' ? 'ERR_SOCKET_BAD_PORT' : 'EINVAL';
      assert.ok(codes.includes(portCode), `codes: ${codes.join(',')}`);
      const total = Object.values(endpoint.stats.sendErrors).reduce((a, b) => a + b, 0);
      assert.equal(total, 2, `codes: ${JSON.stringify(endpoint.stats.sendErrors)}`);
    } finally {
      endpoint.destroy();
    }
  });

  test(`${backend}: EADDRINUSE becomes AddressInUseError and leaves no socket open`, async () => {
    const first = await UdpEndpoint.bind(new EchoEngine(), [{ host: '127.0.0.1', port: 0 }], ignoreEvents, {
      socketBackend: backend,
    });
    try {
      const port = first.localAddresses[0]!.port;
      await assert.rejects(
        UdpEndpoint.bind(new EchoEngine(), [{ host: '127.0.0.1', port }], ignoreEvents, {
          socketBackend: backend,
        }),
        (error: unknown) => error instanceof AddressInUseError && error.code === 'BRAID_ERR_ADDRESS_IN_USE',
      );
    } finally {
      first.destroy();
    }
  });

  test(`${backend}: one timer: fires onTimeout at the deadline and is not rearmed while the deadline is unchanged`, async () => {
    const engine = new EchoEngine();
    const endpoint = await UdpEndpoint.bind(engine, [{ host: '127.0.0.1', port: 0 }], ignoreEvents, {
      socketBackend: backend,
    });
    try {
      engine.deadline = endpoint.now() + 30;
      endpoint.scheduleFlush();
      await sleep(5);
      assert.equal(endpoint.stats.timerArms, 1);
      for (let i = 0; i < 5; i++) {
        endpoint.scheduleFlush();
        await sleep(1);
      }
      assert.equal(endpoint.stats.timerArms, 1, 'an unchanged deadline keeps the armed timer');
      assert.equal(engine.timeouts.length, 0);
      await sleep(60);
      assert.equal(engine.timeouts.length, 1);
      assert.ok(engine.timeouts[0]! >= (engine.deadline ?? 0));
    } finally {
      endpoint.destroy();
    }
  });

  test(`${backend}: a new local address is handed to the engine and what it queues leaves at once, no timer or datagram needed`, async () => {
    // The engine answers an address change by queueing packets (a PATH_CHALLENGE from the new
    // address, REMOVE_ADDRESS): a downloading client has nothing in flight, so no timer is near.
    const engine = new (class extends EchoEngine {
      readonly announced: SocketAddress[][] = [];
      peer: SocketAddress | undefined;
      setLocalAddresses(addresses: readonly SocketAddress[]): void {
        this.announced.push([...addresses]);
        const from = addresses.at(-1);
        if (this.peer && from)
          this.outbox.push({ local: from, remote: this.peer, data: Buffer.from('challenge') });
      }
    })();
    const endpoint = await UdpEndpoint.bind(engine, [{ host: '127.0.0.1', port: 0 }], ignoreEvents, {
      socketBackend: backend,
    });
    const peer = await clientSocket('udp4', '127.0.0.1');
    try {
      engine.peer = { address: '127.0.0.1', port: peer.address().port, family: 'IPv4' };
      await sleep(5);
      const flushes = endpoint.stats.flushes;
      const added = await endpoint.addSocket({ host: '127.0.0.2', port: 0 });
      endpoint.announceLocalAddresses();
      assert.deepEqual(engine.announced.at(-1), endpoint.localAddresses);
      // Without the flush nothing would leave: give up after 2 s rather than hang.
      const [message, from] = await once(peer, 'message', { signal: AbortSignal.timeout(2000) });
      assert.equal(message.toString(), 'challenge');
      assert.equal(from.address, added.address, 'sent from the new address');
      assert.equal(engine.timeouts.length, 0, 'no timer was involved');
      assert.ok(endpoint.stats.flushes > flushes);
    } finally {
      peer.close();
      endpoint.destroy();
    }
  });

  test(`${backend}: close() closes live sessions and resolves once the engine released them`, async () => {
    const engine = new EchoEngine();
    const endpoint = await UdpEndpoint.bind(engine, [{ host: '127.0.0.1', port: 0 }], ignoreEvents, {
      socketBackend: backend,
    });
    endpoint.connect({ address: '127.0.0.1', port: 9, family: 'IPv4' }, {});
    assert.equal(endpoint.sessionCount, 1);
    const started = performance.now();
    await endpoint.close(7, 'bye', 5000);
    assert.ok(performance.now() - started < 1000, 'did not wait for the grace period');
    assert.equal(engine.connections[0]!.closedWith, 7);
    assert.equal(endpoint.sessionCount, 0);
    assert.ok(endpoint.isClosed);
  });
}
