import type { SocketBackend } from '../../src/endpoint/datagram-socket.js';

/**
 * The socket back-ends every real-socket test runs on. On Linux both: the native one must
 * have been built by `npm ci` (its tests fail with the reason if it was not), unless
 * BRAID_NATIVE_UDP=0 opts out. Elsewhere only node:dgram.
 */
export function socketBackendsUnderTest(): SocketBackend[] {
  if (process.platform !== 'linux' || process.env.BRAID_NATIVE_UDP === '0') return ['dgram'];
  return ['native', 'dgram'];
}
