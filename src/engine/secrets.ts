import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { addressKey, type SocketAddress } from '../net/address.js';

export type RandomSource = (length: number) => Uint8Array;

export const defaultRandom: RandomSource = (length) => randomBytes(length);

const RETRY_TOKEN_VERSION = 1;
const MAC_LENGTH = 16;
const RESUME_LOST_LABEL = 'braid resume lost';
const RESUME_EXPIRED_LABEL = 'braid resume expired';

/**
 * Endpoint-private secrets: stateless-reset tokens and Retry tokens are MACs
 * under keys that never leave the process, so a server can recognise its own
 * tokens without keeping per-client state (RFC 9000 §8.1.1, §10.3).
 */
export class EndpointSecrets {
  private readonly resetKey: Uint8Array;
  private readonly retryKey: Uint8Array;

  /**
   * The reset key derives from the static private key so that a restarted endpoint
   * (same identity, no sessions) can still tell its peers, with a valid token, that
   * their session is gone — they fail fast instead of waiting for an idle timeout.
   */
  constructor(random: RandomSource, staticPrivateKey: Uint8Array) {
    this.resetKey = new Uint8Array(
      hkdfSync('sha256', staticPrivateKey, new Uint8Array(0), 'braid stateless reset', 32),
    );
    this.retryKey = random(32);
  }

  statelessResetToken(connectionId: Uint8Array): Uint8Array {
    return createHmac('sha256', this.resetKey).update(connectionId).digest().subarray(0, 16);
  }

  /**
   * The token that ends a stateless refusal of a RESUME presenting `resumptionId`
   * (docs/protocol.md §15.3): 'lost' when the server holds no session for it, 'expired' when
   * the session outlived its persistence timeout. Derived from the reset key, so a restarted
   * server (same static key) still refuses with a token the client recognises.
   */
  resumeRefusalToken(resumptionId: Uint8Array, kind: 'lost' | 'expired'): Uint8Array {
    return createHmac('sha256', this.resetKey)
      .update(kind === 'lost' ? RESUME_LOST_LABEL : RESUME_EXPIRED_LABEL)
      .update(resumptionId)
      .digest()
      .subarray(0, 16);
  }

  /** Token = version u8 | expiry u48 BE (ms, endpoint clock) | odcid_len u8 | odcid | mac[16]. */
  mintRetryToken(
    client: SocketAddress,
    originalDcid: Uint8Array,
    retryScid: Uint8Array,
    expiresAt: number,
  ): Uint8Array {
    const body = new Uint8Array(1 + 6 + 1 + originalDcid.length);
    body[0] = RETRY_TOKEN_VERSION;
    writeUint48(body, 1, Math.max(0, Math.floor(expiresAt)));
    body[7] = originalDcid.length;
    body.set(originalDcid, 8);
    const mac = this.retryMac(client, body, retryScid);
    const token = new Uint8Array(body.length + MAC_LENGTH);
    token.set(body, 0);
    token.set(mac, body.length);
    return token;
  }

  /** Returns the original DCID the token was minted for, or undefined if forged, expired or not ours. */
  validateRetryToken(
    token: Uint8Array,
    client: SocketAddress,
    retryScid: Uint8Array,
    now: number,
  ): Uint8Array | undefined {
    if (token.length < 8 + MAC_LENGTH || token[0] !== RETRY_TOKEN_VERSION) return undefined;
    const odcidLength = token[7];
    const bodyLength = 8 + odcidLength;
    if (token.length !== bodyLength + MAC_LENGTH) return undefined;
    const body = token.subarray(0, bodyLength);
    const expected = this.retryMac(client, body, retryScid);
    if (!timingSafeEqual(expected, token.subarray(bodyLength))) return undefined;
    if (readUint48(token, 1) < now) return undefined;
    return token.slice(8, bodyLength);
  }

  private retryMac(client: SocketAddress, body: Uint8Array, retryScid: Uint8Array): Uint8Array {
    return createHmac('sha256', this.retryKey)
      .update(addressKey(client))
      .update(body)
      .update(retryScid)
      .digest()
      .subarray(0, MAC_LENGTH);
  }
}

function writeUint48(buf: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / 2 ** 32);
  const low = value >>> 0;
  buf[offset] = (high >>> 8) & 0xff;
  buf[offset + 1] = high & 0xff;
  buf[offset + 2] = low >>> 24;
  buf[offset + 3] = (low >>> 16) & 0xff;
  buf[offset + 4] = (low >>> 8) & 0xff;
  buf[offset + 5] = low & 0xff;
}

function readUint48(buf: Uint8Array, offset: number): number {
  const high = (buf[offset] << 8) | buf[offset + 1];
  const low =
    ((buf[offset + 2] << 24) | (buf[offset + 3] << 16) | (buf[offset + 4] << 8) | buf[offset + 5]) >>> 0;
  return high * 2 ** 32 + low;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
