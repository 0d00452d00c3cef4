/**
 * The receive metadata record of the native back-end: one per message of a recvmmsg read, in
 * the table native-socket.ts owns and native/braid_udp.cc fills. This is the TypeScript twin of
 * `braid::ReceiveMeta` (native/receive_meta.h): byte offsets of its fields and its size. The
 * addon reports its own (`metaLayout()`); native-socket.ts refuses an addon that disagrees, and
 * test/endpoint/receive-meta.test.ts pins the two equal, so change both or neither.
 *
 * The 32-bit fields are native-endian (read through a Uint32Array over the table, so their
 * offsets are multiples of 4); the port is two big-endian bytes; addresses are network-order
 * bytes, 4 of them for family 4 and 16 for family 6.
 */
export const RECEIVE_META = Object.freeze({
  /** Bytes per record (the table's stride). */
  size: 64,
  /** u32: where the message starts in the receive arena. */
  offset: 0,
  /** u32: its length, one datagram or a GRO run of them. */
  length: 4,
  /** u32: GRO segment size (each datagram of the run but the last); 0: one datagram. */
  segmentSize: 8,
  /** 2 bytes, big-endian: the sender's port. */
  remotePort: 12,
  /** u8: 4 or 6 (an IPv4-mapped sender on a dual-stack socket is 4). */
  remoteFamily: 14,
  /** u8: 0 if the kernel gave no IP_PKTINFO for this message, else 4 or 6. */
  localFamily: 15,
  /** 16 bytes: the sender's address. */
  remoteAddress: 16,
  /** 16 bytes: the message's own destination address (IP_PKTINFO). */
  localAddress: 32,
  /** u32: the index of the interface it arrived on (IP_PKTINFO). */
  localInterface: 48,
  /** u32: the sender's IPv6 scope id (link-local), else 0. */
  remoteScopeId: 52,
});

export type ReceiveMetaLayout = { readonly [K in keyof typeof RECEIVE_META]: number };

/** Field by field, is `layout` (an addon's metaLayout()) the one this module reads? */
export function isReceiveMetaLayout(layout: unknown): boolean {
  if (typeof layout !== 'object' || layout === null) return false;
  const other = layout as Record<string, unknown>;
  const fields = Object.keys(RECEIVE_META) as Array<keyof typeof RECEIVE_META>;
  return (
    Object.keys(other).length === fields.length &&
    fields.every((field) => other[field] === RECEIVE_META[field])
  );
}
