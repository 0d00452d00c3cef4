/**
 * The batched socket back-end on Linux: native/braid_udp.cc (built at install by
 * scripts/build-native.mjs), wrapped in the DatagramSocket interface (datagram-socket.ts).
 *
 * Receive: the addon reads with recvmmsg into an arena this module owns (16 slots of 64 KiB,
 * each may hold a GRO-coalesced run of datagrams) and fills a metadata table per read
 * (offset, length, GRO segment size, remote and local address); onReceive(count) then hands
 * each datagram up as a view of the arena, valid until the callback returns.
 * Send: one call per run of equal-size datagrams to one destination (GSO).
 */
import { constants as osConstants } from 'node:os';
import { loadAddon } from '../native/addons.js';
import type { SocketAddress } from '../net/address.js';
import type { DatagramSocket, DatagramSocketHandlers, OpenSocketOptions } from './socket-types.js';

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
  constants: {
    metaWords: number;
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
  return loadAddon<NativeUdpModule>('braid_udp');
}

/** Why the native back-end cannot be used here, or undefined if it can. */
export function nativeUdpUnavailableReason(): string | undefined {
  return load().error;
}

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) errnoNames.set(value, name);

/**
 * The addon's errors name the errno but not the address; callers (and people) expect dgram's
 * shape: `bind EADDRINUSE 127.0.0.1:4433` with `code`, `syscall`, `address` and `port`.
 */
function bindError(error: unknown, host: string, port: number): unknown {
  const e = error as NodeJS.ErrnoException;
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

function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `ERRNO_${errno}`;
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
  private readonly meta: Uint32Array;
  private readonly metaWords: number;
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
    this.metaWords = module.constants.metaWords;
    this.maxSegments = module.constants.maxSegments;
    this.maxBatchBytes = module.constants.maxSendBytes;
    this.arena = new Uint8Array(SLOT_SIZE * SLOTS);
    this.metaBytes = new Uint8Array(SLOTS * this.metaWords * 4);
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
    this.handlers.onSendError(errnoName(failure % 65_536), Math.max(1, Math.floor(failure / 65_536)), remote);
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
    const words = this.metaWords;
    for (let i = 0; i < count; i++) {
      const m = i * words;
      const offset = meta[m];
      const length = meta[m + 1];
      const segment = meta[m + 2];
      const remote = this.remoteAt(m * 4);
      const local = bytes[m * 4 + 15] !== 0 ? this.localAt(m * 4) : undefined;
      const step = segment > 0 ? segment : length;
      const end = offset + length;
      for (let at = offset; at < end; at += step) {
        this.handlers.onDatagram(arena.subarray(at, Math.min(at + step, end)), remote, local);
        if (this.closed) return;
      }
    }
    this.handlers.onReadDone();
  }

  /** The sender of message `base`: one object per distinct address, reused across datagrams. */
  private remoteAt(base: number): SocketAddress {
    const bytes = this.metaBytes;
    const meta = this.meta;
    const family = bytes[base + 14] === 6 ? 6 : 4;
    const port = (bytes[base + 12] << 8) | bytes[base + 13];
    const w = base >> 2;
    const key =
      family === 4
        ? meta[w + 4] * 65_536 + port
        : `${meta[w + 4]},${meta[w + 5]},${meta[w + 6]},${meta[w + 7]},${meta[w + 13]},${port}`;
    if (key === this.lastRemoteKey && this.lastRemote) return this.lastRemote;
    let remote = this.remotes.get(key);
    if (!remote) {
      let address = this.module.formatAddress(bytes, base + 16, family);
      if (family === 6 && meta[w + 13] !== 0) address = `${address}%${meta[w + 13]}`;
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
    const family = bytes[base + 15] === 6 ? 6 : 4;
    const w = base >> 2;
    const key = family === 4 ? meta[w + 8] : `${meta[w + 8]},${meta[w + 9]},${meta[w + 10]},${meta[w + 11]}`;
    let local = this.locals.get(key);
    if (!local) {
      const address = this.module.formatAddress(bytes, base + 32, family);
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
  return new NativeSocket(module, family, options.handlers, options);
}

export type { NativeSocket };
