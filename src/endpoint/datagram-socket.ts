/**
 * The shell's socket layer: one small interface, two back-ends.
 *
 * - `native` (src/endpoint/native-socket.ts): our Linux addon (native/braid_udp.cc) with
 *   batched I/O — one sendmsg carries up to 64 equal-size datagrams (UDP GSO, or sendmmsg
 *   where GSO is refused), one recvmmsg returns up to 16 reads of which each may be a
 *   GRO-coalesced run of datagrams; per-datagram local addresses (IP_PKTINFO).
 * - `dgram` (src/endpoint/dgram-socket.ts): node:dgram, one syscall per datagram, on every
 *   platform.
 *
 * `auto` picks native where the addon loads (Linux, built at install) unless
 * BRAID_NATIVE_UDP=0, else dgram. Both back-ends run the same e2e tests.
 */
import { openDgramSocket } from './dgram-socket.js';
import { nativeUdpUnavailableReason, openNativeSocket } from './native-socket.js';
import type {
  DatagramSocket,
  OpenSocketOptions,
  SocketBackend,
  SocketBackendChoice,
} from './socket-types.js';

export type {
  DatagramSocket,
  DatagramSocketHandlers,
  OpenSocketOptions,
  SocketBackend,
  SocketBackendChoice,
} from './socket-types.js';

/** The back-end `choice` resolves to here, and why not native if it is not. */
export function resolveSocketBackend(choice: SocketBackendChoice = 'auto'): {
  backend: SocketBackend;
  reason?: string;
} {
  if (choice === 'dgram') return { backend: 'dgram', reason: 'requested' };
  const unavailable =
    process.env.BRAID_NATIVE_UDP === '0' ? 'BRAID_NATIVE_UDP=0' : nativeUdpUnavailableReason();
  if (unavailable === undefined) return { backend: 'native' };
  if (choice === 'native') throw new Error(`native UDP back-end unavailable: ${unavailable}`);
  return { backend: 'dgram', reason: unavailable };
}

/**
 * Opens and binds one UDP socket on `backend`. Rejects with the bind error (code EADDRINUSE...)
 * and leaves nothing open on failure.
 */
export function openDatagramSocket(
  backend: SocketBackend,
  options: OpenSocketOptions,
): Promise<DatagramSocket> {
  return backend === 'native' ? openNativeSocket(options) : openDgramSocket(options);
}
