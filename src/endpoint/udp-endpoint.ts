import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { channels, publish } from '../api/diagnostics.js';
import { AddressInUseError } from '../api/errors.js';
import type { ConnectionEvent, EndpointEvent, EngineConnection, EngineEndpoint } from '../engine/types.js';
import { addressKey, type SocketAddress, type Transmit } from '../net/address.js';

/** What the shell hands upward: one call per engine event, in engine order. */
export interface UdpEndpointHandlers {
  onConnectionEvent(connection: EngineConnection, event: ConnectionEvent): void;
  onEndpointEvent?(event: EndpointEvent): void;
}

export interface BindAddress {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/**
 * Test and demo fault injection: called for every datagram the shell is about to hand
 * to the engine ('in') or to a socket ('out'), with the local and remote address of
 * the datagram. Returning true drops it silently, as a blackholed link would. Opt-in
 * (no injector: no per-datagram cost beyond one check); never set in production.
 */
export type FaultInjector = (
  direction: 'in' | 'out',
  local: SocketAddress,
  remote: SocketAddress,
  data: Uint8Array,
) => boolean;

export interface UdpEndpointOptions {
  /** SO_RCVBUF / SO_SNDBUF request in bytes; the kernel may clamp it. Default 4 MiB. */
  socketBufferSize?: number;
  /** Drops chosen datagrams in both directions (see FaultInjector). For tests and `braid demo` only. */
  faultInjector?: FaultInjector;
}

export interface UdpEndpointStats {
  datagramsReceived: number;
  datagramsSent: number;
  /** Transmits whose local address matched no bound socket of that family. */
  noSocketDrops: number;
  /** Sends the kernel refused (ENETUNREACH, EHOSTUNREACH, ENOBUFS...), by error code. */
  sendErrors: Record<string, number>;
  /** Errors reported by a socket outside of a send (counted, never thrown). */
  socketErrors: number;
  /** Datagrams dropped by the fault injector, both directions. */
  injectedDrops: number;
  flushes: number;
  timerArms: number;
}

const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024;
const DEFAULT_CLOSE_GRACE_MS = 1000;

interface BoundSocket {
  readonly socket: dgram.Socket;
  readonly local: SocketAddress;
  readonly wildcard: boolean;
  /** One callback per socket, reused for every send: no closure per datagram. */
  readonly onSent: (error: Error | null) => void;
}

/**
 * The Node shell around a sans-I/O engine: owns the UDP sockets, the clock, one timer,
 * and the flush loop. Every input (datagram, timer, API call) ends in one coalesced
 * flush per event-loop tick that drains transmits and events and rearms the timer.
 */
/**
 * The engine only ever sends to IP literals, so dgram's default lookup (dns.lookup,
 * answered on the next tick) is pure overhead per datagram: answer synchronously.
 */
function literalLookup(
  address: string,
  family: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const familyNumber = typeof family === 'number' ? family : address.includes(':') ? 6 : 4;
  callback(null, address, familyNumber);
}

export class UdpEndpoint {
  readonly engine: EngineEndpoint;
  readonly stats: UdpEndpointStats = {
    datagramsReceived: 0,
    datagramsSent: 0,
    noSocketDrops: 0,
    sendErrors: {},
    socketErrors: 0,
    injectedDrops: 0,
    flushes: 0,
    timerArms: 0,
  };

  private readonly handlers: UdpEndpointHandlers;
  private readonly faultInjector: FaultInjector | undefined;
  private readonly sockets: BoundSocket[] = [];
  private readonly socketsByKey = new Map<string, BoundSocket>();
  private readonly socketByLocal = new WeakMap<SocketAddress, BoundSocket>();
  private readonly live = new Set<EngineConnection>();
  private readonly closeWaiters: Array<() => void> = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private armedDeadline: number | undefined;
  private closed = false;
  private unreferenced = false;
  private readonly runFlush = (): void => this.flush();
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.armedDeadline = undefined;
    this.flush();
  };

  private constructor(
    engine: EngineEndpoint,
    handlers: UdpEndpointHandlers,
    faultInjector: FaultInjector | undefined,
  ) {
    this.engine = engine;
    this.handlers = handlers;
    this.faultInjector = faultInjector;
  }

  /**
   * Binds one socket per address (IPv4 and IPv6 allowed; port 0 picks one free port shared by all).
   * Rejects with AddressInUseError on EADDRINUSE; no socket stays open on failure.
   * When every socket has a specific (non-wildcard) address, the engine is told that set:
   * its sessions advertise them to the peer and open standby paths over them.
   */
  static async bind(
    engine: EngineEndpoint,
    addresses: readonly BindAddress[],
    handlers: UdpEndpointHandlers,
    options: UdpEndpointOptions = {},
  ): Promise<UdpEndpoint> {
    const endpoint = new UdpEndpoint(engine, handlers, options.faultInjector);
    const hasIPv4 = addresses.some((a) => !isIPv6(a.host));
    try {
      for (const address of addresses) {
        // Port 0 means one free port for every address: the first bind picks it.
        const port =
          address.port === 0 && endpoint.sockets.length > 0 ? endpoint.sockets[0]!.local.port : address.port;
        await endpoint.bindOne(
          { host: address.host, port },
          hasIPv4,
          options.socketBufferSize ?? DEFAULT_SOCKET_BUFFER,
        );
      }
    } catch (error) {
      for (const bound of endpoint.sockets) bound.socket.close();
      throw error;
    }
    endpoint.announceLocalAddresses();
    return endpoint;
  }

  private async bindOne(address: BindAddress, separateIPv4: boolean, bufferSize: number): Promise<void> {
    const ipv6 = isIPv6(address.host);
    // With an IPv4 socket alongside, a dual-stack '::' socket would steal its traffic as ::ffff: addresses.
    const socket = dgram.createSocket({
      type: ipv6 ? 'udp6' : 'udp4',
      ipv6Only: ipv6 && separateIPv4,
      lookup: literalLookup,
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        socket.close();
        reject(
          error.code === 'EADDRINUSE'
            ? new AddressInUseError(address.host, address.port, { cause: error })
            : error,
        );
      };
      socket.once('error', onError);
      socket.bind({ port: address.port, address: address.host, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(bufferSize);
      socket.setSendBufferSize(bufferSize);
    } catch {
      // Unprivileged processes may be capped by net.core.rmem_max; the default buffers still work.
    }
    const info = socket.address();
    const local: SocketAddress = { address: info.address, port: info.port, family: ipv6 ? 'IPv6' : 'IPv4' };
    const bound: BoundSocket = {
      socket,
      local,
      wildcard: info.address === '0.0.0.0' || info.address === '::',
      // dgram reports a failed send only to a callback (without one the error is lost).
      onSent: (error) => {
        if (error) this.countSendError(error, local);
      },
    };
    socket.on('message', (message, remote) => this.onMessage(bound, message, remote));
    socket.on('error', () => {
      this.stats.socketErrors++;
    });
    this.sockets.push(bound);
    this.socketsByKey.set(addressKey(local), bound);
  }

  /**
   * A wildcard socket's real addresses are unknown here (interface discovery is not done),
   * so only a set of specific addresses is announced; the engine's default (each session's
   * own address) stays otherwise.
   */
  private announceLocalAddresses(): void {
    if (this.sockets.length === 0 || this.sockets.some((s) => s.wildcard)) return;
    // Not on EngineEndpoint (an injected engine may lack it): the concrete Endpoint has it.
    const engine = this.engine as EngineEndpoint & {
      setLocalAddresses?: (addresses: readonly SocketAddress[], now: number) => void;
    };
    engine.setLocalAddresses?.(this.localAddresses, this.now());
  }

  /** Local addresses of the bound sockets, in bind order (ports resolved). */
  get localAddresses(): SocketAddress[] {
    return this.sockets.map((s) => s.local);
  }

  /** Monotonic milliseconds, the engine's clock. */
  now(): number {
    return performance.now();
  }

  /** Number of sessions the shell knows to be alive (not yet released by the engine). */
  get sessionCount(): number {
    return this.live.size;
  }

  /** Starts a client session from the first socket of the remote's family. */
  connect(remote: SocketAddress, options: Parameters<EngineEndpoint['connect']>[2]): EngineConnection {
    const bound = this.socketFor(remote.family, undefined);
    if (!bound) throw new Error(`no ${remote.family} socket bound`);
    const connection = this.engine.connect(remote, bound.local, options, this.now());
    this.track(connection);
    this.scheduleFlush();
    return connection;
  }

  /** Requests a flush on the next tick; many requests in one tick coalesce into one flush. */
  scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(this.runFlush);
  }

  private onMessage(bound: BoundSocket, message: Buffer, info: dgram.RemoteInfo): void {
    if (this.closed) return;
    this.stats.datagramsReceived++;
    const remote: SocketAddress = {
      address: info.address,
      port: info.port,
      family: info.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    if (this.faultInjector?.('in', bound.local, remote, message)) {
      this.stats.injectedDrops++;
      return;
    }
    this.engine.receive(message, bound.local, remote, this.now());
    this.scheduleFlush();
  }

  /** Runs the engine until it has nothing to say: timeouts, events, transmits, then one timer. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    this.stats.flushes++;
    const engine = this.engine;
    try {
      let now = this.now();
      const deadline = engine.nextDeadline();
      if (deadline !== undefined && deadline <= now) engine.onTimeout(now);
      // Events first: handlers may write or read, and those frames should leave in this same flush.
      this.dispatchEvents();
      now = this.now();
      for (let transmit = engine.pollTransmit(now); transmit; transmit = engine.pollTransmit(now)) {
        this.send(transmit);
      }
      // Sending can settle state (e.g. a close that needed its CLOSE frame out first).
      this.dispatchEvents();
    } catch (error) {
      // An application listener threw: finish the work on the next tick, then let it surface.
      this.scheduleFlush();
      throw error;
    } finally {
      if (!this.closed) this.armTimer();
    }
  }

  private dispatchEvents(): void {
    const engine = this.engine;
    for (const connection of engine.drainDirty()) {
      this.track(connection);
      for (let event = connection.pollEvent(); event; event = connection.pollEvent()) {
        this.handlers.onConnectionEvent(connection, event);
      }
    }
    for (let event = engine.pollEndpointEvent(); event; event = engine.pollEndpointEvent()) {
      if (event.type === 'incoming') {
        this.track(event.connection);
      } else {
        this.live.delete(event.connection);
        if (this.live.size === 0) this.settleCloseWaiters();
      }
      this.handlers.onEndpointEvent?.(event);
    }
  }

  private track(connection: EngineConnection): void {
    if (connection.state !== 'closed') this.live.add(connection);
  }

  private send(transmit: Transmit): void {
    // The engine hands out the same SocketAddress object for a path's every datagram,
    // so an identity cache skips building a string key per send.
    let bound = this.socketByLocal.get(transmit.local);
    if (!bound) {
      bound =
        this.socketsByKey.get(addressKey(transmit.local)) ??
        this.socketFor(transmit.remote.family, transmit.local);
      if (bound) this.socketByLocal.set(transmit.local, bound);
    }
    if (!bound) {
      this.stats.noSocketDrops++;
      publish(channels.endpointDrop, () => ({
        reason: 'no-socket',
        local: transmit.local,
        remote: transmit.remote,
      }));
      return;
    }
    if (this.faultInjector?.('out', transmit.local, transmit.remote, transmit.data)) {
      this.stats.injectedDrops++;
      return;
    }
    try {
      bound.socket.send(transmit.data, transmit.remote.port, transmit.remote.address, bound.onSent);
      this.stats.datagramsSent++;
    } catch (error) {
      this.countSendError(error as Error, bound.local, transmit.remote);
    }
  }

  /** A socket of `family`, preferring the wildcard one, else the first; undefined if none. */
  private socketFor(family: 'IPv4' | 'IPv6', local: SocketAddress | undefined): BoundSocket | undefined {
    let first: BoundSocket | undefined;
    for (const bound of this.sockets) {
      if (bound.local.family !== family) continue;
      if (local && bound.local.port === local.port && bound.wildcard) return bound;
      first ??= bound;
    }
    if (local) {
      for (const bound of this.sockets) if (bound.local.family === family && bound.wildcard) return bound;
    }
    return first;
  }

  private countSendError(error: Error, local: SocketAddress, remote?: SocketAddress): void {
    const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    this.stats.sendErrors[code] = (this.stats.sendErrors[code] ?? 0) + 1;
    publish(channels.endpointDrop, () => ({ reason: 'send-error', local, remote, error }));
  }

  /** Exactly one timer, rearmed only when the engine's deadline moves; unref'd while no session lives. */
  private armTimer(): void {
    const deadline = this.engine.nextDeadline();
    if (deadline === this.armedDeadline && (deadline === undefined || this.timer)) {
      this.refTimer();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedDeadline = deadline;
    if (deadline === undefined) return;
    this.stats.timerArms++;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(deadline - this.now())));
    this.refTimer();
  }

  private refTimer(): void {
    if (!this.timer) return;
    if (this.live.size === 0 || this.unreferenced) this.timer.unref();
    else this.timer.ref();
  }

  private settleCloseWaiters(): void {
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }

  /**
   * Closes every live session with (code, reason), waits until the engine released
   * them or `graceMs` passed, then closes the sockets. Idempotent.
   */
  async close(code = 0, reason = '', graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    if (this.closed) return;
    if (this.live.size > 0) {
      for (const connection of this.live) {
        if (connection.state === 'handshaking' || connection.state === 'established') {
          connection.close(code, reason);
        }
      }
      this.scheduleFlush();
      await new Promise<void>((resolve) => {
        // Unref'd: the sockets decide whether the process stays alive (see unref()).
        const timer = setTimeout(resolve, graceMs).unref();
        this.closeWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.destroy();
  }

  /** Lets the process exit even though the sockets are open (e.g. a client draining a closed session). */
  unref(): void {
    for (const bound of this.sockets) bound.socket.unref();
    this.timer?.unref();
    this.unreferenced = true;
  }

  /** Closes the sockets and the timer at once, without waiting for sessions. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const bound of this.sockets) {
      try {
        bound.socket.close();
      } catch {
        // Already closed by the runtime.
      }
    }
    this.settleCloseWaiters();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
