/**
 * The types of the shell's socket layer (datagram-socket.ts): the interface a back-end
 * implements and the options it is opened with. They live apart from datagram-socket.ts, which
 * picks and opens a back-end, so that the back-ends implement them without importing their
 * own factory.
 */
import type { SocketAddress } from '../net/address.js';

export type SocketBackend = 'native' | 'dgram';
export type SocketBackendChoice = SocketBackend | 'auto';

export interface DatagramSocketHandlers {
  /**
   * One received datagram. `data` is valid only during the call (the native back-end reuses
   * its receive arena). `local` is the datagram's own destination address where the back-end
   * knows it (native, IP_PKTINFO: useful on a wildcard socket), else undefined.
   */
  onDatagram(data: Uint8Array, remote: SocketAddress, local: SocketAddress | undefined): void;
  /** After the datagrams of one socket read (one or many onDatagram calls). */
  onReadDone(): void;
  /** Sends that waited for the kernel (see `blocked`) have all left. */
  onWritable(): void;
  /** `count` datagrams to `remote` were refused for good with error `code` (e.g. ENETUNREACH). */
  onSendError(code: string, count: number, remote: SocketAddress | undefined, error?: Error): void;
  /** An error of the socket outside a send: counted by the shell, never thrown. */
  onSocketError(error: Error): void;
}

export interface DatagramSocket {
  readonly backend: SocketBackend;
  /** The bound address (port resolved; a wildcard host stays the wildcard). */
  readonly local: SocketAddress;
  /**
   * True if send() takes a run of equal-size datagrams in one call and is done with the
   * bytes when it returns (native). False: one datagram per call, and the back-end may keep
   * a reference to the bytes until the kernel has them (dgram): never reuse them.
   */
  readonly batching: boolean;
  /** Most datagrams and bytes one batched send() may carry. */
  readonly maxSegments: number;
  readonly maxBatchBytes: number;
  /** True while sends wait for the kernel (EAGAIN/ENOBUFS): stop producing until onWritable. */
  readonly blocked: boolean;
  /**
   * Sends data[offset, offset + length) as datagrams of `segmentSize` bytes (the last may be
   * shorter; 0: one datagram) to `remote`, from `source` if given and the back-end can choose
   * it (native: IP_PKTINFO). Never throws for network errors: they reach onSendError.
   */
  send(
    data: Uint8Array,
    offset: number,
    length: number,
    segmentSize: number,
    remote: SocketAddress,
    source?: SocketAddress,
  ): void;
  /** Back-end counters for diagnostics (GSO fallbacks, queued sends...). */
  stats(): Record<string, number>;
  ref(): void;
  unref(): void;
  /** Closes at once; pending sends are dropped (counted in stats()). Idempotent. */
  close(): void;
}

export interface OpenSocketOptions {
  host: string;
  port: number;
  ipv6Only: boolean;
  /** SO_RCVBUF / SO_SNDBUF request; the kernel may clamp it. */
  bufferSize: number;
  handlers: DatagramSocketHandlers;
}
