/**
 * Path health shared by the sessions of one Endpoint (sans-I/O: times come from the caller).
 *
 * A session that sees a pair (local, remote) fail cannot tell which end broke. Other sessions
 * of the same endpoint can: if the same local address still works towards another remote
 * address, the remote address is the likely culprit, and vice versa. Sessions report
 * successes (an ACK or PATH_RESPONSE proved the pair carries their packets) and failures
 * (probe timeouts on a pair that used to work); when a session must pick the next pair to
 * probe, it asks which ends look broken.
 *
 * Keys are IP addresses without port: a broken interface or host breaks every port.
 * Memory is bounded (MAX_ADDRESSES entries per side, MAX_FAILURES pair failures) and
 * reports older than the TTL are ignored.
 */
import type { SocketAddress } from '../net/address.js';

/** Reports older than this are ignored (ms): an outage this old says little about now. */
export const PATH_HEALTH_TTL = 60_000;
const MAX_ADDRESSES = 256;
const MAX_FAILURES = 64;

interface PairFailure {
  local: string;
  remote: string;
  at: number;
}

export class PathHealth {
  /** Last time a pair with this local / remote IP was proven to work. */
  private readonly localSuccess = new Map<string, number>();
  private readonly remoteSuccess = new Map<string, number>();
  private readonly failures: PairFailure[] = [];

  /** `local → remote` carried packets (proven by an ACK or a PATH_RESPONSE) at `now`. */
  reportSuccess(local: SocketAddress, remote: SocketAddress, now: number): void {
    touch(this.localSuccess, local.address, now);
    touch(this.remoteSuccess, remote.address, now);
  }

  /** A pair that used to work stopped answering at `now`. */
  reportFailure(local: SocketAddress, remote: SocketAddress, now: number): void {
    if (this.failures.length >= MAX_FAILURES) this.failures.shift();
    this.failures.push({ local: local.address, remote: remote.address, at: now });
  }

  /**
   * The remote address looks broken: a pair towards it failed, nothing towards it worked
   * since, and either the local address of that pair has worked since (towards another
   * remote) or pairs from two different local addresses failed towards it.
   */
  remoteSuspect(remote: SocketAddress, now: number): boolean {
    return this.suspect(remote.address, now, 'remote');
  }

  /** The local address looks broken (the mirror image of remoteSuspect). */
  localSuspect(local: SocketAddress, now: number): boolean {
    return this.suspect(local.address, now, 'local');
  }

  private suspect(ip: string, now: number, side: 'local' | 'remote'): boolean {
    const own = side === 'local' ? this.localSuccess : this.remoteSuccess;
    const other = side === 'local' ? this.remoteSuccess : this.localSuccess;
    const since = own.get(ip) ?? -Infinity;
    let otherEnd: string | undefined;
    for (const f of this.failures) {
      if (now - f.at > PATH_HEALTH_TTL || f.at <= since) continue;
      const [mine, theirs] = side === 'local' ? [f.local, f.remote] : [f.remote, f.local];
      if (mine !== ip) continue;
      // The other end of the failed pair worked after the failure: this end is to blame.
      if ((other.get(theirs) ?? -Infinity) > f.at) return true;
      if (otherEnd !== undefined && otherEnd !== theirs) return true;
      otherEnd = theirs;
    }
    return false;
  }
}

function touch(map: Map<string, number>, key: string, now: number): void {
  map.delete(key); // re-insert: Map order is recency, so the oldest entry goes first
  map.set(key, now);
  if (map.size > MAX_ADDRESSES) map.delete(map.keys().next().value as string);
}
