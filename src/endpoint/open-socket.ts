/**
 * Picks and opens a socket back-end (the interface: datagram-socket.ts). `auto` picks native
 * (native-socket.ts) where the addon loads (Linux, built at install) unless BRAID_NATIVE_UDP=0,
 * else dgram (dgram-socket.ts).
 */
import type {
  DatagramSocket,
  OpenSocketOptions,
  SocketBackend,
  SocketBackendChoice,
} from './datagram-socket.js';
import { openDgramSocket } from './dgram-socket.js';
import { nativeUdpUnavailableReason, openNativeSocket } from './native-socket.js';

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
