/**
 * The batched socket back-end on Linux: native/braid_udp.cc (built at install by
 * scripts/build-native.mjs), wrapped in the DatagramSocket interface (datagram-socket.ts).
 *
 * Receive: the addon reads with recvmmsg into an arena this module owns (16 slots of 64 KiB,
 * each may hold a GRO-coalesced run of datagrams) and fills a metadata table per read, one
 * record per message laid out as RECEIVE_META says (receive-meta.ts: offset, length, GRO
 * segment size, remote and local address); onReceive(count) then hands
 * each datagram up as a view of the arena, valid until the callback returns.
 * Send: one call per run of equal-size datagrams to one destination (GSO).
 */
import { loadAddon } from '../native/addons.js';
import { errnoCode, withErrnoCode } from '../native/errno.js';
import type { SocketAddress } from '../net/address.js';
import type { DatagramSocket, DatagramSocketHandlers, OpenSocketOptions } from './datagram-socket.js';
import { isReceiveMetaLayout, RECEIVE_META, type ReceiveMetaLayout } from './receive-meta.js';

interface NativeSocketHandle {
  bind(host: string, port: number, ipv6Only: boolean): [string, number];
  setBufferSizes(receive: number, send: number): [number, number];
  send(
    data: Uint8Array,
    offset: number,
    length: number,
    segmentSize: number,
    remote: Uint8Array,
    source: Uint8Array | null,
  ): number;
  startReceiving(): void;
  close(): void;
  setRef(ref: boolean): void;
  stats(): Record<string, number>;
  features(): number;
  disableGso(): void;
}

interface NativeUdpModule {
  NativeUdpSocket: new (
    family: 4 | 6,
    arena: Uint8Array,
    meta: Uint8Array,
    slotSize: number,
    onReceive: (count: number) => void,
    onDrain: () => void,
  ) => NativeSocketHandle;
  encodeAddress(host: string, port: number): Uint8Array | null;
  formatAddress(bytes: Uint8Array, offset: number, family: 4 | 6): string;
  /** The receive metadata record as the addon lays it out (must equal RECEIVE_META). */
  metaLayout?(): ReceiveMetaLayout;
  constants: {
    maxSegments: number;
    maxSendBytes: number;
    featureGso: number;
    featureGro: number;
    featurePktinfo: number;
    queued: number;
  };
}

/** Slot size of the receive arena: a whole GRO super-datagram or the largest UDP payload. */
const SLOT_SIZE = 65_536;
const SLOTS = 16;

function load(): { module?: NativeUdpModule; error?: string } {
  if (process.platform !== 'linux') return { error: `not Linux (${process.platform})` };
  const loaded = loadAddon<NativeUdpModule>('braid_udp');
  // An addon built from other sources would have datagrams read at the wrong offsets.
  if (loaded.module && !isReceiveMetaLayout(loaded.module.metaLayout?.())) {
    return { error: 'braid_udp addon is stale: its receive metadata layout differs (npm run build:native)' };
  }
  return loaded;
}

/** Why the native back-end cannot be used here, or undefined if it can. */
export function nativeUdpUnavailableReason(): string | undefined {
  return load().error;
}

/**
 * The addon's errors carry the errno but not the address; callers (and people) expect dgram's
 * shape: `bind EADDRINUSE 127.0.0.1:4433` with `code`, `syscall`, `address` and `port`.
 */
function bindError(error: unknown, host: string, port: number): unknown {
  const e = withErrnoCode(error) as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string' || e.syscall !== 'bind') return error;
  const wrapped: NodeJS.ErrnoException & { address?: string; port?: number } = new Error(
    // As Node's own message: the port only when one was asked for.
    port > 0 ? `bind ${e.code} ${host.includes(':') ? `[${host}]` : host}:${port}` : `bind ${e.code} ${host}`,
  );
  wrapped.code = e.code;
  wrapped.errno = e.errno;
  wrapped.syscall = 'bind';
  wrapped.address = host;
  wrapped.port = port;
  return wrapped;
}

/** Remote-address cache size bound: a server sees many peers, but not unboundedly many at once. */
const MAX_CACHED_ADDRESSES = 4096;

class NativeSocket implements DatagramSocket {
  readonly backend = 'native';
  readonly batching = true;
  readonly maxSegments: number;
  readonly maxBatchBytes: number;
  readonly local: SocketAddress;
  private readonly handle: NativeSocketHandle;
  private readonly module: NativeUdpModule;
  private readonly handlers: DatagramSocketHandlers;
  /** A plain Uint8Array, not a Buffer: its subarray() per datagram is cheaper. */
  private readonly arena: Uint8Array;
  private readonly metaBytes: Uint8Array;
  /** The same table as 32-bit words (RECEIVE_META's u32 fields). */
  private readonly meta: Uint32Array;
  /** Encoded destination per SocketAddress object: the engine reuses one object per path. */
  private readonly encoded = new WeakMap<SocketAddress, Uint8Array>();
  private readonly remotes = new Map<string | number, SocketAddress>();
  private lastRemote: SocketAddress | undefined;
  private lastRemoteKey: string | number = -1;
  private readonly locals = new Map<string | number, SocketAddress>();
  private closed = false;
  private _blocked = false;

  constructor(
    module: NativeUdpModule,
    family: 4 | 6,
    handlers: DatagramSocketHandlers,
    bind: { host: string; port: number; ipv6Only: boolean; bufferSize: number },
  ) {
    this.module = module;
    this.handlers = handlers;
    this.maxSegments = module.constants.maxSegments;
    this.maxBatchBytes = module.constants.maxSendBytes;
    this.arena = new Uint8Array(SLOT_SIZE * SLOTS);
    this.metaBytes = new Uint8Array(SLOTS * RECEIVE_META.size);
    this.meta = new Uint32Array(this.metaBytes.buffer);
    this.handle = new module.NativeUdpSocket(
      family,
      this.arena,
      this.metaBytes,
      SLOT_SIZE,
      (count) => this.onReceive(count),
      () => this.onDrain(),
    );
    try {
      const [address, port] = this.handle.bind(bind.host, bind.port, bind.ipv6Only);
      this.local = { address, port, family: family === 6 ? 'IPv6' : 'IPv4' };
      this.handle.setBufferSizes(bind.bufferSize, bind.bufferSize);
    } catch (error) {
      this.handle.close();
      throw bindError(error, bind.host, bind.port);
    }
    this.handle.startReceiving();
  }

  get blocked(): boolean {
    return this._blocked;
  }

  /** GSO / GRO / pktinfo as the kernel granted them (GSO turns off after a refusal). */
  get features(): { gso: boolean; gro: boolean; pktinfo: boolean } {
    const bits = this.handle.features();
    const c = this.module.constants;
    return {
      gso: (bits & c.featureGso) !== 0,
      gro: (bits & c.featureGro) !== 0,
      pktinfo: (bits & c.featurePktinfo) !== 0,
    };
  }

  /** For tests: send one datagram per message (sendmmsg), as on a device without GSO. */
  disableGso(): void {
    this.handle.disableGso();
  }

  send(
    data: Uint8Array,
    offset: number,
    length: number,
    segmentSize: number,
    remote: SocketAddress,
    source?: SocketAddress,
  ): void {
    const destination = this.encode(remote);
    if (!destination) {
      this.handlers.onSendError('EINVAL', segmentSize > 0 ? Math.ceil(length / segmentSize) : 1, remote);
      return;
    }
    const from = source && source.address !== this.local.address ? this.encode(source) : undefined;
    const status = this.handle.send(data, offset, length, segmentSize, destination, from ?? null);
    if (status === 0) return;
    if (status === this.module.constants.queued) {
      this._blocked = true;
      return;
    }
    const failure = -status;
    this.handlers.onSendError(errnoCode(failure % 65_536), Math.max(1, Math.floor(failure / 65_536)), remote);
  }

  private encode(address: SocketAddress): Uint8Array | undefined {
    let bytes = this.encoded.get(address);
    if (bytes === undefined) {
      bytes = this.module.encodeAddress(address.address, address.port) ?? undefined;
      if (bytes === undefined) return undefined;
      this.encoded.set(address, bytes);
    }
    return bytes;
  }

  private onReceive(count: number): void {
    if (this.closed) return;
    const meta = this.meta;
    const bytes = this.metaBytes;
    const arena = this.arena;
    for (let i = 0; i < count; i++) {
      const base = i * RECEIVE_META.size;
      const offset = meta[(base + RECEIVE_META.offset) >> 2];
      const length = meta[(base + RECEIVE_META.length) >> 2];
      const segment = meta[(base + RECEIVE_META.segmentSize) >> 2];
      const remote = this.remoteAt(base);
      const local = bytes[base + RECEIVE_META.localFamily] !== 0 ? this.localAt(base) : undefined;
      const step = segment > 0 ? segment : length;
      const end = offset + length;
      for (let at = offset; at < end; at += step) {
        this.handlers.onDatagram(arena.subarray(at, Math.min(at + step, end)), remote, local);
        if (this.closed) return;
      }
    }
    this.handlers.onReadDone();
  }

  /** The sender of the message whose record starts at byte `base`: one object per distinct address, reused. */
  private remoteAt(base: number): SocketAddress {
    const bytes = this.metaBytes;
    const meta = this.meta;
    const family = bytes[base + RECEIVE_META.remoteFamily] === 6 ? 6 : 4;
    const port = (bytes[base + RECEIVE_META.remotePort] << 8) | bytes[base + RECEIVE_META.remotePort + 1];
    const a = (base + RECEIVE_META.remoteAddress) >> 2;
    const scope = meta[(base + RECEIVE_META.remoteScopeId) >> 2];
    const key =
      family === 4
        ? meta[a] * 65_536 + port
        : `${meta[a]},${meta[a + 1]},${meta[a + 2]},${meta[a + 3]},${scope},${port}`;
    if (key === this.lastRemoteKey && this.lastRemote) return this.lastRemote;
    let remote = this.remotes.get(key);
    if (!remote) {
      let address = this.module.formatAddress(bytes, base + RECEIVE_META.remoteAddress, family);
      if (family === 6 && scope !== 0) address = `${address}%${scope}`;
      remote = { address, port, family: family === 6 ? 'IPv6' : 'IPv4' };
      if (this.remotes.size >= MAX_CACHED_ADDRESSES) this.remotes.clear();
      this.remotes.set(key, remote);
    }
    this.lastRemote = remote;
    this.lastRemoteKey = key;
    return remote;
  }

  /** The local address a datagram was sent to (IP_PKTINFO), with this socket's port. */
  private localAt(base: number): SocketAddress {
    const bytes = this.metaBytes;
    const meta = this.meta;
    const family = bytes[base + RECEIVE_META.localFamily] === 6 ? 6 : 4;
    const a = (base + RECEIVE_META.localAddress) >> 2;
    const key = family === 4 ? meta[a] : `${meta[a]},${meta[a + 1]},${meta[a + 2]},${meta[a + 3]}`;
    let local = this.locals.get(key);
    if (!local) {
      const address = this.module.formatAddress(bytes, base + RECEIVE_META.localAddress, family);
      local = { address, port: this.local.port, family: family === 6 ? 'IPv6' : 'IPv4' };
      if (this.locals.size >= MAX_CACHED_ADDRESSES) this.locals.clear();
      this.locals.set(key, local);
    }
    return local;
  }

  private onDrain(): void {
    this._blocked = false;
    if (!this.closed) this.handlers.onWritable();
  }

  stats(): Record<string, number> {
    return this.handle.stats();
  }

  ref(): void {
    if (!this.closed) this.handle.setRef(true);
  }

  unref(): void {
    if (!this.closed) this.handle.setRef(false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}

export async function openNativeSocket(options: OpenSocketOptions): Promise<DatagramSocket> {
  const { module, error } = load();
  if (!module) throw new Error(`native UDP back-end unavailable: ${error}`);
  const family = options.host.includes(':') ? 6 : 4;
  try {
    return new NativeSocket(module, family, options.handlers, options);
  } catch (error) {
    throw withErrnoCode(error); // socket() refused (EMFILE...); bind errors arrive named already
  }
}

export type { NativeSocket };
