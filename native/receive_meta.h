// The receive metadata record of braid_udp: one per message of a recvmmsg read, in a table the
// JavaScript side owns and reads after onReceive(count). The TypeScript twin of this layout is
// src/endpoint/receive-meta.ts; the addon exports it (metaLayout()) and
// test/endpoint/receive-meta.test.ts pins the two equal, so change both or neither.
//
// Byte order: the 32-bit fields are native-endian (JS reads them through a Uint32Array over
// the table); the port is big-endian bytes, as on the wire; addresses are network-order bytes.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace braid {

struct ReceiveMeta {
  uint32_t offset;            // where the message starts in the receive arena
  uint32_t length;            // its length: one datagram, or a GRO run of them
  uint32_t segment_size;      // GRO segment size (every datagram but the last of the run); 0: one datagram
  uint8_t remote_port[2];     // sender's port, big-endian
  uint8_t remote_family;      // 4 or 6 (an IPv4-mapped IPv6 sender is reported as 4)
  uint8_t local_family;       // 0: no IP_PKTINFO for this message; else 4 or 6
  uint8_t remote_address[16]; // sender's address: 4 bytes for family 4, 16 for family 6
  uint8_t local_address[16];  // the message's destination address (IP_PKTINFO), as remote_address
  uint32_t local_interface;   // the interface index it arrived on (IP_PKTINFO)
  uint32_t remote_scope_id;   // the sender's IPv6 scope id (link-local), else 0
  uint32_t reserved[2];       // zero; keeps the record 64 bytes
};

static_assert(sizeof(ReceiveMeta) == 64, "receive metadata layout");
static_assert(alignof(ReceiveMeta) == 4, "JS reads the 32-bit fields through a Uint32Array");

}  // namespace braid
