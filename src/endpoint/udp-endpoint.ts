import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { channels, publish } from '../diagnostics/channels.js';
import type { ConnectionEvent, EndpointEvent, EngineConnection, EngineEndpoint } from '../engine/types.js';
import { AddressInUseError } from '../errors/errors.js';
import { addressKey, type SocketAddress, sameAddress, type Transmit } from '../net/address.js';
import { type BackendInfo, describeBackend, stateFallbackOnce } from './backend.js';
import type { DatagramSocket, SocketBackend, SocketBackendChoice } from './datagram-socket.js';
import { InterfaceWatcher } from './interfaces.js';
import { openDatagramSocket } from './open-socket.js';

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
  /**
   * Socket back-end (src/endpoint/datagram-socket.ts): 'native' = batched Linux addon (GSO,
   * GRO, recvmmsg), 'dgram' = node:dgram, 'auto' (default) = native where it loads unless
   * BRAID_NATIVE_UDP=0. Asking for 'native' where it cannot load throws.
   */
  socketBackend?: SocketBackendChoice;
}

export interface UdpEndpointStats {
  datagramsReceived: number;
  datagramsSent: number;
  /** Socket send calls; below datagramsSent when datagrams leave in batches (native back-end). */
  sendCalls: number;
  /** Socket reads that delivered datagrams (one recvmmsg may deliver many). */
  reads: number;
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
/** Send errors that mean the kernel found no way out for the datagram (it reached nobody). */
const LOCAL_SEND_REFUSALS = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL']);
const DEFAULT_CLOSE_GRACE_MS = 1000;

interface BoundSocket {
  readonly socket: DatagramSocket;
  readonly local: SocketAddress;
  readonly wildcard: boolean;
}

/** Send arena of the batching back-end: packets are built here back to back, then sent in runs. */
const SEND_ARENA_BYTES = 256 * 1024;
/** A packet is only offered the arena's tail if at least this much is left (larger MTUs fall back to their own buffer). */
const MIN_ARENA_ROOM = 16 * 1024;

/** A run of consecutive transmits for one (socket, local, remote) of equal size (the last may be shorter): one GSO send. */
interface SendRun {
  bound: BoundSocket;
  local: SocketAddress;
  remote: SocketAddress;
  start: number;
  segment: number;
  count: number;
  bytes: number;
  /** A shorter datagram ended the run (GSO allows only the last segment to be short). */
  closed: boolean;
}

/**
 * The Node shell around a sans-I/O engine: owns the UDP sockets, the clock, one timer,
 * and the flush loop. Every input (datagram, timer, API call) ends in one coalesced
 * flush per event-loop tick that drains transmits and events and rearms the timer.
 */
export class UdpEndpoint {
  readonly engine: EngineEndpoint;
  readonly stats: UdpEndpointStats = {
    datagramsReceived: 0,
    datagramsSent: 0,
    sendCalls: 0,
    reads: 0,
    noSocketDrops: 0,
    sendErrors: {},
    socketErrors: 0,
    injectedDrops: 0,
    flushes: 0,
    timerArms: 0,
  };

  /** The socket back-end every socket of this endpoint uses. */
  readonly socketBackend: SocketBackend;
  /** The whole back-end (sockets and packet protection), for stats and status. */
  readonly backend: BackendInfo;
  private readonly handlers: UdpEndpointHandlers;
  /** A plain Uint8Array, not a Buffer: the per-packet subarray() views are cheaper. */
  private sendArena: Uint8Array | undefined;
  private readonly faultInjector: FaultInjector | undefined;
  private readonly sockets: BoundSocket[] = [];
  private readonly socketsByKey = new Map<string, BoundSocket>();
  /** Reset when a socket is removed, so no transmit is routed to a closed socket. */
  private socketByLocal = new WeakMap<SocketAddress, BoundSocket>();
  private bufferSize = DEFAULT_SOCKET_BUFFER;
  private readonly destroyHooks: Array<() => void> = [];
  private readonly live = new Set<EngineConnection>();
  private readonly closeWaiters: Array<() => void> = [];
  private flushScheduled = false;
  /** Sends the kernel refused since the last flush, for the engine (see countSendError). */
  private refusals: Array<{ local: SocketAddress; remote: SocketAddress; datagrams: number }> = [];
  /** The time of the socket read being delivered (see onMessage). */
  private readNow: number | undefined;
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
    backend: BackendInfo,
  ) {
    this.engine = engine;
    this.handlers = handlers;
    this.faultInjector = faultInjector;
    this.socketBackend = backend.udp;
    this.backend = backend;
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
    const info = describeBackend(options.socketBackend);
    stateFallbackOnce(options.socketBackend, info);
    const endpoint = new UdpEndpoint(engine, handlers, options.faultInjector, info);
    endpoint.bufferSize = options.socketBufferSize ?? DEFAULT_SOCKET_BUFFER;
    const hasIPv4 = addresses.some((a) => !isIPv6(a.host));
    try {
      for (const address of addresses) {
        // Port 0 means one free port for every address: the first bind picks it.
        const port =
          address.port === 0 && endpoint.sockets.length > 0 ? endpoint.sockets[0]!.local.port : address.port;
        await endpoint.bindOne({ host: address.host, port }, hasIPv4, endpoint.bufferSize);
      }
    } catch (error) {
      for (const bound of endpoint.sockets) bound.socket.close();
      throw error;
    }
    if (endpoint.sockets.every((s) => s.socket.batching))
      endpoint.sendArena = new Uint8Array(SEND_ARENA_BYTES);
    endpoint.announceLocalAddresses();
    endpoint.onDestroy(InterfaceWatcher.shared.subscribeChanges(() => endpoint.onNetworkChange()));
    return endpoint;
  }

  /**
   * The host's links, addresses or routes changed (InterfaceWatcher.subscribeChanges): sessions
   * waiting for a path try at once (Endpoint.networkChanged), and what they queued goes now.
   */
  onNetworkChange(): void {
    if (this.closed || !this.engine.networkChanged) return;
    this.engine.networkChanged(this.now());
    this.scheduleFlush();
  }

  private async bindOne(address: BindAddress, separateIPv4: boolean, bufferSize: number): Promise<void> {
    const ipv6 = isIPv6(address.host);
    let bound: BoundSocket | undefined;
    let socket: DatagramSocket;
    try {
      // With an IPv4 socket alongside, a dual-stack '::' socket would steal its traffic as ::ffff: addresses.
      socket = await openDatagramSocket(this.socketBackend, {
        host: address.host,
        port: address.port,
        ipv6Only: ipv6 && separateIPv4,
        bufferSize,
        handlers: {
          onDatagram: (data, remote) => {
            if (bound) this.onMessage(bound, data, remote);
          },
          onReadDone: () => {
            this.stats.reads++;
            this.readNow = undefined;
            this.scheduleFlush();
          },
          onWritable: () => this.scheduleFlush(),
          onSendError: (code, count, remote, error) => {
            if (bound) this.countSendError(code, count, bound.local, remote, error);
          },
          onSocketError: () => {
            this.stats.socketErrors++;
          },
        },
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw code === 'EADDRINUSE'
        ? new AddressInUseError(address.host, address.port, { cause: error })
        : error;
    }
    const local = socket.local;
    bound = { socket, local, wildcard: local.address === '0.0.0.0' || local.address === '::' };
    this.sockets.push(bound);
    this.socketsByKey.set(addressKey(local), bound);
  }

  /**
   * Binds one more socket (an interface address that appeared: src/endpoint/local-addresses.ts).
   * Rejects like bind(); the caller announces the new set (announceLocalAddresses).
   */
  async addSocket(address: BindAddress): Promise<SocketAddress> {
    if (this.closed) throw new Error('endpoint is closed');
    await this.bindOne(address, true, this.bufferSize);
    const added = this.sockets[this.sockets.length - 1]!;
    if (this.closed) added.socket.close();
    else if (this.unreferenced) added.socket.unref();
    return added.local;
  }

  /** Closes the socket bound to `local` (its address vanished). False if there is none. */
  removeSocket(local: SocketAddress): boolean {
    const key = addressKey(local);
    const bound = this.socketsByKey.get(key);
    if (!bound) return false;
    this.socketsByKey.delete(key);
    this.sockets.splice(this.sockets.indexOf(bound), 1);
    this.socketByLocal = new WeakMap();
    try {
      bound.socket.close();
    } catch {
      // Already closed by the runtime.
    }
    return true;
  }

  /** Runs `hook` once when the endpoint is destroyed (e.g. to stop watching interfaces). */
  onDestroy(hook: () => void): void {
    if (this.closed) hook();
    else this.destroyHooks.push(hook);
  }

  /**
   * Tells the engine the local addresses its sessions may use and advertise: every specific
   * (non-wildcard) socket's address. A wildcard socket's real addresses are unknown here, so
   * with one bound nothing is announced (each session keeps the address it started on);
   * interface discovery (local-addresses.ts) binds specific sockets instead.
   */
  announceLocalAddresses(): void {
    if (this.sockets.length === 0 || this.sockets.some((s) => s.wildcard)) return;
    this.engine.setLocalAddresses?.(this.localAddresses, this.now());
    // Sessions react at once (leave a vanished address, open a path from a new one): send what
    // they queued now, not at their next timer, which for a downloading client with nothing in
    // flight could be hundreds of ms away.
    this.scheduleFlush();
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

  /**
   * Starts a client session from the socket bound to `local` if given and bound, else from
   * the first socket of the remote's family.
   */
  connect(
    remote: SocketAddress,
    options: Parameters<EngineEndpoint['connect']>[2],
    local?: SocketAddress,
  ): EngineConnection {
    const bound =
      (local && this.socketsByKey.get(addressKey(local))) ?? this.socketFor(remote.family, undefined);
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

  private onMessage(bound: BoundSocket, data: Uint8Array, remote: SocketAddress): void {
    if (this.closed) return;
    this.stats.datagramsReceived++;
    // A batching back-end reuses its receive arena; the engine may keep views of a long-header
    // (handshake) datagram, so those get their own copy (rare; data packets are short-header).
    let message = data;
    if (bound.socket.batching && message.length > 0 && (message[0] & 0x80) !== 0)
      message = Buffer.from(message);
    if (this.faultInjector?.('in', bound.local, remote, message)) {
      this.stats.injectedDrops++;
      return;
    }
    // One clock reading per socket read: its datagrams arrived together.
    this.readNow ??= this.now();
    this.engine.receive(message, bound.local, remote, this.readNow);
  }

  /** Runs the engine until it has nothing to say: timeouts, events, transmits, then one timer. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    this.stats.flushes++;
    const engine = this.engine;
    try {
      let now = this.now();
      if (this.refusals.length > 0) this.reportRefusals(now);
      const deadline = engine.nextDeadline();
      if (deadline !== undefined && deadline <= now) engine.onTimeout(now);
      // Events first: handlers may write or read, and those frames should leave in this same flush.
      this.dispatchEvents();
      now = this.now();
      if (this.sendArena) this.sendBatched(this.sendArena, now);
      else {
        for (let transmit = engine.pollTransmit(now); transmit; transmit = engine.pollTransmit(now)) {
          this.send(transmit);
        }
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

  private reportRefusals(now: number): void {
    const refusals = this.refusals;
    this.refusals = [];
    for (const r of refusals) this.engine.onSendRefused?.(r.local, r.remote, r.datagrams, now);
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

  /** The socket a transmit leaves from, or undefined (counted, published). */
  private socketForTransmit(transmit: Transmit): BoundSocket | undefined {
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
      return undefined;
    }
    if (this.faultInjector?.('out', transmit.local, transmit.remote, transmit.data)) {
      this.stats.injectedDrops++;
      return undefined;
    }
    return bound;
  }

  /** One datagram, one call (dgram back-end). */
  private send(transmit: Transmit): void {
    const bound = this.socketForTransmit(transmit);
    if (!bound) return;
    const data = transmit.data;
    bound.socket.send(data, 0, data.length, 0, transmit.remote);
    this.stats.datagramsSent++;
    this.stats.sendCalls++;
  }

  /**
   * Batching back-end: packets are built back to back in the send arena; each run of
   * consecutive packets for one address pair, of equal size but for a shorter last one,
   * leaves in one send (UDP GSO). Stops early while a socket is blocked: the engine keeps
   * what it has not yet built, and onWritable schedules the next flush.
   */
  private sendBatched(arena: Uint8Array, now: number): void {
    const engine = this.engine;
    let used = 0;
    let run: SendRun | undefined;
    for (;;) {
      if (this.anyBlocked()) break;
      if (arena.length - used < MIN_ARENA_ROOM) {
        if (run) this.sendRun(arena, run);
        run = undefined;
        used = 0;
      }
      const transmit = engine.pollTransmit(now, arena.subarray(used));
      if (!transmit) break;
      const bound = this.socketForTransmit(transmit);
      if (!bound) continue;
      const data = transmit.data;
      const length = data.length;
      if (data.buffer !== arena.buffer || data.byteOffset !== arena.byteOffset + used) {
        // Built elsewhere (a handshake flight, a stateless reply): send it alone, in order.
        if (run) this.sendRun(arena, run);
        run = undefined;
        bound.socket.send(data, 0, length, 0, transmit.remote);
        this.stats.datagramsSent++;
        this.stats.sendCalls++;
        continue;
      }
      if (
        run !== undefined &&
        !run.closed &&
        run.bound === bound &&
        length <= run.segment &&
        run.count < bound.socket.maxSegments &&
        run.bytes + length <= bound.socket.maxBatchBytes &&
        (run.remote === transmit.remote || sameAddress(run.remote, transmit.remote)) &&
        (run.local === transmit.local || sameAddress(run.local, transmit.local))
      ) {
        run.count++;
        run.bytes += length;
        if (length < run.segment) run.closed = true;
      } else {
        if (run) this.sendRun(arena, run);
        run = {
          bound,
          local: transmit.local,
          remote: transmit.remote,
          start: used,
          segment: length,
          count: 1,
          bytes: length,
          closed: false,
        };
      }
      used += length;
    }
    if (run) this.sendRun(arena, run);
  }

  private sendRun(arena: Uint8Array, run: SendRun): void {
    const segment = run.count > 1 ? run.segment : 0;
    run.bound.socket.send(arena, run.start, run.bytes, segment, run.remote);
    this.stats.datagramsSent += run.count;
    this.stats.sendCalls++;
  }

  private anyBlocked(): boolean {
    for (const bound of this.sockets) if (bound.socket.blocked) return true;
    return false;
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

  private countSendError(
    code: string,
    count: number,
    local: SocketAddress,
    remote: SocketAddress | undefined,
    error: Error | undefined,
  ): void {
    this.stats.sendErrors[code] = (this.stats.sendErrors[code] ?? 0) + count;
    // These never left the host (no IP_RECVERR, so no ICMP from afar reports this way): the
    // engine gives an unvalidated path their credit back, at the next flush (a native send
    // reports its errors in the middle of one).
    if (remote && LOCAL_SEND_REFUSALS.has(code)) {
      this.refusals.push({ local, remote, datagrams: count });
      this.scheduleFlush();
    }
    publish(channels.endpointDrop, () => ({
      reason: 'send-error',
      local,
      remote,
      error: error ?? Object.assign(new Error(`send failed: ${code}`), { code }),
      datagrams: count,
    }));
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
    // During the grace period no new session may start: it would be dropped without a CLOSE.
    this.engine.stopAccepting?.();
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
    publish(channels.endpointClosed, () => ({
      backend: this.socketBackend,
      local: this.localAddresses,
      stats: { ...this.stats, sendErrors: { ...this.stats.sendErrors } },
      sockets: this.sockets.map((bound) => bound.socket.stats()),
    }));
    for (const bound of this.sockets) bound.socket.close();
    this.settleCloseWaiters();
    for (const hook of this.destroyHooks.splice(0)) hook();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
