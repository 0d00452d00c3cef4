/**
 * Address scopes: which local addresses may be paired with (or advertised to) which peer.
 * Pure functions on IP literals, used by the engine (what a session advertises and accepts)
 * and by the shell (which interface addresses get a socket).
 *
 * - `loopback` (127.0.0.0/8, ::1) reaches only this host: used only towards a loopback peer,
 *   never advertised to another host, and an advertised loopback address from a peer that is
 *   not on loopback is ignored (it would make us send to our own host's services).
 * - `link-local` (169.254.0.0/16, fe80::/10) needs an interface scope id that an address
 *   frame does not carry: never bound, advertised or accepted.
 * - `invalid` (unspecified, multicast, broadcast, 0.0.0.0/8, 240.0.0.0/4): never a locator.
 * - `global`: everything else, private ranges and ULAs included (reachable within their
 *   network, which the path validation proves or refutes).
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}$/;

export type AddressScope = 'loopback' | 'link-local' | 'global' | 'invalid';

function ipv4Scope(address: string): AddressScope {
  const match = IPV4.exec(address);
  if (!match) return 'invalid';
  const a = Number(match[1]);
  const b = Number(match[2]);
  if (a === 127) return 'loopback';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 0 || a >= 224) return 'invalid'; // this-network, multicast, reserved, broadcast
  return 'global';
}

/** The scope of an IP literal (a v4-mapped IPv6 address has its IPv4 address's scope). */
export function addressScope(address: string): AddressScope {
  const bare = address.split('%')[0]!; // a zone index (fe80::1%eth0) does not change the scope
  if (!bare.includes(':')) return ipv4Scope(bare);
  const lower = bare.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return ipv4Scope(mapped[1]!);
  if (lower === '::1') return 'loopback';
  if (lower === '::') return 'invalid';
  const head = lower.split(':')[0] || '0';
  if (!/^[0-9a-f]{1,4}$/.test(head)) return 'invalid';
  const first = Number.parseInt(head, 16);
  if ((first & 0xff00) === 0xff00) return 'invalid'; // multicast
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  return 'global';
}

/** Whether an address can be a locator at all (bound, advertised, accepted). */
export function isUsableLocator(address: string): boolean {
  const scope = addressScope(address);
  return scope === 'loopback' || scope === 'global';
}

/**
 * Whether `local` may be paired with, or advertised to, a peer currently reached at `peer`:
 * both usable and of the same scope (loopback with loopback, global with global).
 */
export function sameScope(local: string, peer: string): boolean {
  const scope = addressScope(local);
  return (scope === 'loopback' || scope === 'global') && scope === addressScope(peer);
}
