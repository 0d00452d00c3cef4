// Batched UDP I/O for Braid's Node shell (Linux only): UDP GSO / sendmmsg on send,
// recvmmsg / UDP GRO on receive, IP_PKTINFO / IPV6_PKTINFO for per-datagram local
// addresses, readiness through libuv (uv_poll_t) on Node's own event loop.
//
// The JavaScript side (src/endpoint/native-socket.ts) owns the receive arena and its metadata
// table (one braid::ReceiveMeta per message: receive_meta.h); this file only moves bytes.
// Design notes and measurements: docs/performance.md.
//
// notifyDatagram() sends one datagram to an AF_UNIX datagram socket, which Node cannot: the
// service manager's notification socket (sd_notify; src/endpoint/notify-socket.ts).
//
// Error contract: nothing here throws out of a send or a receive. A send returns a status
// (sent, queued until writable, or -errno for datagrams dropped and counted by the caller);
// the receive loop counts what it cannot deliver. Only bind() and bad arguments throw.

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errno.h"
#include "napi_typed.h"
#include "receive_meta.h"

#include <deque>
#include <vector>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

namespace {

// Kernel limit on segments per GSO send (UDP_MAX_SEGMENTS is 64 on older kernels).
constexpr size_t kMaxSegments = 64;
// Largest UDP payload one sendmsg may carry (IPv4: 65535 - 20 - 8).
constexpr size_t kMaxSendBytes = 65507;
// Bytes a socket may hold queued while the kernel says EAGAIN/ENOBUFS; beyond, a counted drop.
constexpr size_t kMaxPendingBytes = 8 * 1024 * 1024;
// recvmmsg rounds per readiness callback, so one busy socket cannot starve the loop.
constexpr int kReceiveRounds = 4;
using braid::ReceiveMeta;

// Status codes returned by send() besides -errno.
constexpr int kSent = 0;
constexpr int kQueued = 1;

// An encoded socket address as JS caches it: [family 4|6, 0, port hi, port lo, addr[16], scope u32 LE].
constexpr size_t kEncodedAddressBytes = 24;

// Feature bits reported to JS.
constexpr int kFeatureGso = 1;
constexpr int kFeatureGro = 2;
constexpr int kFeaturePktinfo = 4;

#define NAPI_CALL(env, call)                                   \
  do {                                                         \
    napi_status status_ = (call);                              \
    if (status_ != napi_ok) {                                  \
      const napi_extended_error_info* info_ = nullptr;         \
      napi_get_last_error_info((env), &info_);                 \
      bool pending_ = false;                                   \
      napi_is_exception_pending((env), &pending_);             \
      if (!pending_) {                                         \
        const char* message_ = (info_ && info_->error_message) \
                                   ? info_->error_message      \
                                   : "native call failed";     \
        napi_throw_error((env), nullptr, message_);            \
      }                                                        \
      return nullptr;                                          \
    }                                                          \
  } while (0)

using braid::ThrowErrno;

// Decodes the 24-byte JS encoding into a sockaddr for a socket of `socket_family`
// (an IPv4 destination on an IPv6 socket becomes ::ffff:a.b.c.d). Returns its length, 0 if invalid.
socklen_t DecodeAddress(const uint8_t* in, int socket_family, sockaddr_storage* out) {
  memset(out, 0, sizeof *out);
  const uint16_t port = static_cast<uint16_t>((in[2] << 8) | in[3]);
  if (in[0] == 4 && socket_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    memcpy(&sin->sin_addr, in + 4, 4);
    return sizeof(sockaddr_in);
  }
  if (socket_family == AF_INET6 && (in[0] == 4 || in[0] == 6)) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (in[0] == 4) {
      sin6->sin6_addr.s6_addr[10] = 0xff;
      sin6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(sin6->sin6_addr.s6_addr + 12, in + 4, 4);
    } else {
      memcpy(&sin6->sin6_addr, in + 4, 16);
      sin6->sin6_scope_id = in[20] | (in[21] << 8) | (in[22] << 16) | (static_cast<uint32_t>(in[23]) << 24);
    }
    return sizeof(sockaddr_in6);
  }
  return 0;
}

// A source address for the IP_PKTINFO / IPV6_PKTINFO cmsg (an unspecified family means "let the kernel pick").
struct Source {
  int family = 0;  // 0: none; AF_INET: ipv4 in addr[0..4); AF_INET6
  uint8_t addr[16];
};

struct PendingSend {
  std::vector<uint8_t> data;
  size_t segment;
  sockaddr_storage dest;
  socklen_t dest_len;
  Source source;
};

struct Socket {
  napi_env env = nullptr;
  napi_ref self = nullptr;  // strong while open: the wrapper must outlive its uv handles
  napi_ref on_receive = nullptr;
  napi_ref on_drain = nullptr;
  napi_ref arena_ref = nullptr;
  napi_ref meta_ref = nullptr;
  napi_async_context async_context = nullptr;
  uv_poll_t poll;
  uv_timer_t retry_timer;
  int handles_open = 0;
  int fd = -1;
  int family = AF_INET;
  bool closing = false;
  bool receiving = false;
  bool writable_wanted = false;
  bool referenced = true;
  bool gso = true;
  bool gro = false;
  bool pktinfo = false;
  bool wrapper_gone = false;  // the JS object was finalized (GC after close, or env teardown)
  uint8_t* arena = nullptr;
  size_t slot_size = 0;
  size_t slot_count = 0;
  ReceiveMeta* meta = nullptr;  // slot_count records
  std::deque<PendingSend> pending;
  size_t pending_bytes = 0;
  // Counters (read by JS through stats()).
  double gso_fallbacks = 0;
  double queued_sends = 0;
  double pending_drops = 0;
  double truncated = 0;
  double receive_errors = 0;
  double receive_calls = 0;
  double send_calls = 0;
  // Receive and send scratch are separate: a receive callback may send.
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iovs;
  std::vector<sockaddr_storage> names;
  std::vector<uint8_t> controls;
  std::vector<mmsghdr> send_msgs;
  std::vector<iovec> send_iovs;
  std::vector<uint8_t> send_controls;
};

constexpr size_t kControlBytes = 128;

void UpdatePoll(Socket* s);

void EnvCleanup(void* arg);

void MaybeFree(Socket* s) {
  if (s->handles_open > 0) return;
  if (s->wrapper_gone) {
    delete s;  // the environment may be gone: no Node-API calls
    return;
  }
  napi_remove_env_cleanup_hook(s->env, EnvCleanup, s);
  // The JS wrapper may still be alive (its finalizer then sees a closed socket); only the refs go.
  napi_env env = s->env;
  if (s->on_receive) napi_delete_reference(env, s->on_receive);
  if (s->on_drain) napi_delete_reference(env, s->on_drain);
  if (s->arena_ref) napi_delete_reference(env, s->arena_ref);
  if (s->meta_ref) napi_delete_reference(env, s->meta_ref);
  if (s->async_context) napi_async_destroy(env, s->async_context);
  s->on_receive = s->on_drain = s->arena_ref = s->meta_ref = nullptr;
  s->async_context = nullptr;
  if (s->self) {
    napi_ref self = s->self;
    s->self = nullptr;
    napi_delete_reference(env, self);  // the wrapper may now be collected; its finalizer frees s
  }
}

void OnHandleClosed(uv_handle_t* handle) {
  Socket* s = static_cast<Socket*>(handle->data);
  s->handles_open--;
  MaybeFree(s);
}

void CloseSocket(Socket* s) {
  if (s->closing) return;
  s->closing = true;
  for (const PendingSend& p : s->pending) {
    size_t segment = p.segment > 0 ? p.segment : p.data.size();
    s->pending_drops += static_cast<double>((p.data.size() + segment - 1) / segment);  // datagrams, not sends
  }
  s->pending.clear();
  s->pending_bytes = 0;
  if (s->fd >= 0) {
    uv_poll_stop(&s->poll);
    uv_timer_stop(&s->retry_timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->retry_timer), OnHandleClosed);
    close(s->fd);
    s->fd = -1;
  } else {
    MaybeFree(s);
  }
}

// Fills one msghdr's control buffer with UDP_SEGMENT (if segment > 0) and a source pktinfo.
size_t BuildControl(Socket* s, uint8_t* control, size_t segment, const Source& source) {
  memset(control, 0, kControlBytes);
  size_t used = 0;
  if (segment > 0) {
    auto* cm = reinterpret_cast<cmsghdr*>(control);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t seg = static_cast<uint16_t>(segment);
    memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    used += CMSG_SPACE(sizeof(uint16_t));
  }
  auto* cm = reinterpret_cast<cmsghdr*>(control + used);
  if (source.family == AF_INET && s->family == AF_INET) {
    cm->cmsg_level = IPPROTO_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo info{};
    memcpy(&info.ipi_spec_dst, source.addr, 4);
    memcpy(CMSG_DATA(cm), &info, sizeof info);
    used += CMSG_SPACE(sizeof(in_pktinfo));
  } else if (source.family != 0 && s->family == AF_INET6) {
    cm->cmsg_level = IPPROTO_IPV6;
    cm->cmsg_type = IPV6_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
    in6_pktinfo info{};
    if (source.family == AF_INET) {
      info.ipi6_addr.s6_addr[10] = 0xff;
      info.ipi6_addr.s6_addr[11] = 0xff;
      memcpy(info.ipi6_addr.s6_addr + 12, source.addr, 4);
    } else {
      memcpy(&info.ipi6_addr, source.addr, 16);
    }
    memcpy(CMSG_DATA(cm), &info, sizeof info);
    used += CMSG_SPACE(sizeof(in6_pktinfo));
  }
  return used;
}

bool IsRetryable(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }
bool IsGsoRefusal(int err) { return err == EIO || err == EINVAL || err == EMSGSIZE; }

// Result of trying to send one (possibly segmented) buffer now.
struct Attempt {
  size_t sent_bytes;  // bytes of data accepted by the kernel (whole segments)
  int error;          // 0, or the errno that stopped the attempt
};

// One GSO sendmsg carrying every segment. On a GSO refusal the socket stops using GSO.
Attempt SendGso(Socket* s, const uint8_t* data, size_t length, size_t segment, const sockaddr_storage& dest,
                socklen_t dest_len, const Source& source) {
  uint8_t control[kControlBytes];
  iovec iov{const_cast<uint8_t*>(data), length};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr_storage*>(&dest);
  msg.msg_namelen = dest_len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  size_t control_len = BuildControl(s, control, segment, source);
  msg.msg_control = control_len > 0 ? control : nullptr;
  msg.msg_controllen = control_len;
  s->send_calls++;
  ssize_t n;
  do {
    n = sendmsg(s->fd, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return {length, 0};
  return {0, errno};
}

// sendmmsg with one datagram per message. Stops at the first error; reports how far it got.
Attempt SendEach(Socket* s, const uint8_t* data, size_t length, size_t segment, const sockaddr_storage& dest,
                 socklen_t dest_len, const Source& source) {
  size_t count = segment > 0 ? (length + segment - 1) / segment : 1;
  if (segment == 0) segment = length;
  if (s->send_msgs.size() < count) {
    s->send_msgs.resize(count);
    s->send_iovs.resize(count);
    s->send_controls.resize(count * kControlBytes);
  }
  for (size_t i = 0; i < count; i++) {
    size_t offset = i * segment;
    size_t len = offset + segment <= length ? segment : length - offset;
    s->send_iovs[i] = {const_cast<uint8_t*>(data + offset), len};
    msghdr& msg = s->send_msgs[i].msg_hdr;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = const_cast<sockaddr_storage*>(&dest);
    msg.msg_namelen = dest_len;
    msg.msg_iov = &s->send_iovs[i];
    msg.msg_iovlen = 1;
    uint8_t* control = s->send_controls.data() + i * kControlBytes;
    size_t control_len = BuildControl(s, control, 0, source);
    msg.msg_control = control_len > 0 ? control : nullptr;
    msg.msg_controllen = control_len;
  }
  size_t done = 0;
  while (done < count) {
    s->send_calls++;
    int n = sendmmsg(s->fd, s->send_msgs.data() + done, static_cast<unsigned>(count - done), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return {done * segment, errno};
    }
    done += static_cast<size_t>(n);
  }
  return {length, 0};
}

// Sends what it can now. Returns bytes accepted and the errno that stopped it (0 if all went).
Attempt SendNow(Socket* s, const uint8_t* data, size_t length, size_t segment, const sockaddr_storage& dest,
                socklen_t dest_len, const Source& source) {
  if (segment > 0 && length > segment && s->gso) {
    Attempt a = SendGso(s, data, length, segment, dest, dest_len, source);
    if (a.error == 0 || !IsGsoRefusal(a.error)) return a;
    Attempt each = SendEach(s, data, length, segment, dest, dest_len, source);
    // The same refusal for the first plain datagram: the destination is at fault (say,
    // port 0), not GSO, which stays on. Otherwise this device or path lacks UDP GSO: the
    // socket sends one datagram per message from now on.
    if (!(each.sent_bytes == 0 && each.error == a.error)) {
      s->gso = false;
      s->gso_fallbacks++;
    }
    return each;
  }
  return SendEach(s, data, length, segment, dest, dest_len, source);
}

void Enqueue(Socket* s, const uint8_t* data, size_t length, size_t segment, const sockaddr_storage& dest,
             socklen_t dest_len, const Source& source) {
  PendingSend p;
  p.data.assign(data, data + length);
  p.segment = segment;
  p.dest = dest;
  p.dest_len = dest_len;
  p.source = source;
  s->pending_bytes += length;
  s->pending.push_back(std::move(p));
  s->queued_sends++;
}

void CallJs(Socket* s, napi_ref fn_ref, int argc, napi_value* argv) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, self, result;
  if (napi_get_reference_value(env, fn_ref, &fn) == napi_ok && fn != nullptr &&
      napi_get_reference_value(env, s->self, &self) == napi_ok && self != nullptr) {
    napi_value args[2];
    for (int i = 0; i < argc; i++) args[i] = argv ? argv[i] : nullptr;
    napi_status status = napi_make_callback(env, s->async_context, self, fn, argc, args, &result);
    if (status == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);  // surfaces as 'uncaughtException', like any callback
    }
  }
  napi_close_handle_scope(env, scope);
}

// Retries queued sends in order. Returns true when the queue is empty.
bool FlushPending(Socket* s) {
  while (!s->pending.empty()) {
    PendingSend& p = s->pending.front();
    Attempt a = SendNow(s, p.data.data(), p.data.size(), p.segment, p.dest, p.dest_len, p.source);
    if (a.error == 0) {
      s->pending_bytes -= p.data.size();
      s->pending.pop_front();
      continue;
    }
    if (IsRetryable(a.error)) {
      // Keep what the kernel refused, drop what it took.
      if (a.sent_bytes > 0) {
        p.data.erase(p.data.begin(), p.data.begin() + static_cast<long>(a.sent_bytes));
        s->pending_bytes -= a.sent_bytes;
      }
      if (a.error == ENOBUFS) {
        // ENOBUFS does not clear on POLLOUT: try again after a millisecond instead of spinning.
        s->writable_wanted = false;
        uv_timer_start(&s->retry_timer, [](uv_timer_t* t) {
          Socket* sock = static_cast<Socket*>(t->data);
          if (sock->closing) return;
          sock->writable_wanted = true;
          UpdatePoll(sock);
        }, 1, 0);
        UpdatePoll(s);
      }
      return false;
    }
    // A hard error for this destination: the rest of this send is a counted drop.
    size_t segment = p.segment > 0 ? p.segment : p.data.size();
    size_t unsent = p.data.size() - a.sent_bytes;
    s->pending_drops += static_cast<double>((unsent + segment - 1) / segment);
    s->pending_bytes -= p.data.size();
    s->pending.pop_front();
  }
  return true;
}

void OnPoll(uv_poll_t* handle, int status, int events);

void UpdatePoll(Socket* s) {
  if (s->closing || s->fd < 0) return;
  int events = 0;
  if (s->receiving) events |= UV_READABLE;
  if (s->writable_wanted) events |= UV_WRITABLE;
  if (events == 0) {
    uv_poll_stop(&s->poll);
  } else {
    uv_poll_start(&s->poll, events, OnPoll);
  }
}

void ReceiveBatch(Socket* s) {
  const size_t count = s->slot_count;
  if (s->msgs.size() < count) {
    s->msgs.resize(count);
    s->iovs.resize(count);
    s->controls.resize(count * kControlBytes);
  }
  if (s->names.size() < count) s->names.resize(count);
  for (int round = 0; round < kReceiveRounds && !s->closing; round++) {
    for (size_t i = 0; i < count; i++) {
      s->iovs[i] = {s->arena + i * s->slot_size, s->slot_size};
      msghdr& msg = s->msgs[i].msg_hdr;
      msg.msg_name = &s->names[i];
      msg.msg_namelen = sizeof(sockaddr_storage);
      msg.msg_iov = &s->iovs[i];
      msg.msg_iovlen = 1;
      msg.msg_control = s->controls.data() + i * kControlBytes;
      msg.msg_controllen = kControlBytes;
      msg.msg_flags = 0;
    }
    s->receive_calls++;
    int n = recvmmsg(s->fd, s->msgs.data(), static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) s->receive_errors++;
      return;
    }
    if (n == 0) return;
    int delivered = 0;
    for (int i = 0; i < n; i++) {
      msghdr& msg = s->msgs[i].msg_hdr;
      ReceiveMeta* m = s->meta + delivered;
      *m = ReceiveMeta{};
      if (msg.msg_flags & MSG_TRUNC) {
        // Larger than a slot: the datagram cannot be delivered whole. Counted, as UDP allows.
        s->truncated++;
        continue;
      }
      m->offset = static_cast<uint32_t>(i * s->slot_size);
      m->length = s->msgs[i].msg_len;
      const sockaddr_storage& name = s->names[i];
      uint16_t port = 0;
      if (name.ss_family == AF_INET) {
        auto* sin = reinterpret_cast<const sockaddr_in*>(&name);
        port = ntohs(sin->sin_port);
        m->remote_family = 4;
        memcpy(m->remote_address, &sin->sin_addr, 4);
      } else if (name.ss_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&name);
        port = ntohs(sin6->sin6_port);
        const uint8_t* a = sin6->sin6_addr.s6_addr;
        static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, kMapped, 12) == 0) {
          // A dual-stack socket: report the IPv4 peer as IPv4 (what the engine keys paths by).
          m->remote_family = 4;
          memcpy(m->remote_address, a + 12, 4);
        } else {
          m->remote_family = 6;
          memcpy(m->remote_address, a, 16);
          m->remote_scope_id = sin6->sin6_scope_id;
        }
      }
      m->remote_port[0] = static_cast<uint8_t>(port >> 8);
      m->remote_port[1] = static_cast<uint8_t>(port & 0xff);
      for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
          int seg = 0;
          memcpy(&seg, CMSG_DATA(cm), sizeof seg);
          m->segment_size = static_cast<uint32_t>(seg);
        } else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
          in_pktinfo info;
          memcpy(&info, CMSG_DATA(cm), sizeof info);
          m->local_family = 4;
          memcpy(m->local_address, &info.ipi_addr, 4);
          m->local_interface = static_cast<uint32_t>(info.ipi_ifindex);
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
          in6_pktinfo info;
          memcpy(&info, CMSG_DATA(cm), sizeof info);
          const uint8_t* a = info.ipi6_addr.s6_addr;
          static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
          if (memcmp(a, kMapped, 12) == 0) {
            m->local_family = 4;
            memcpy(m->local_address, a + 12, 4);
          } else {
            m->local_family = 6;
            memcpy(m->local_address, a, 16);
          }
          m->local_interface = info.ipi6_ifindex;
        }
      }
      delivered++;
    }
    if (delivered > 0) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(s->env, &scope) == napi_ok) {
        napi_value arg;
        napi_create_int32(s->env, delivered, &arg);
        CallJs(s, s->on_receive, 1, &arg);
        napi_close_handle_scope(s->env, scope);
      }
    }
    if (static_cast<size_t>(n) < count) return;
  }
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  Socket* s = static_cast<Socket*>(handle->data);
  if (s->closing) return;
  if (status < 0) {
    s->receive_errors++;
    return;
  }
  if ((events & UV_WRITABLE) && s->writable_wanted) {
    if (FlushPending(s)) {
      s->writable_wanted = false;
      UpdatePoll(s);
      CallJs(s, s->on_drain, 0, nullptr);
      if (s->closing) return;
    }
  }
  if ((events & UV_READABLE) && s->receiving) ReceiveBatch(s);
}

Socket* Unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, argc, argv, &self, nullptr) != napi_ok) return nullptr;
  if (napi_unwrap(env, self, &data) != napi_ok || data == nullptr) {
    napi_throw_error(env, nullptr, "not a native UDP socket");
    return nullptr;
  }
  return static_cast<Socket*>(data);
}

void Finalize(napi_env, void* data, void*) {
  Socket* s = static_cast<Socket*>(data);
  // Normally reached after close, once every handle closed and the self reference went.
  // At environment teardown it may come first: close, and free when the handles are closed.
  s->wrapper_gone = true;
  if (s->handles_open == 0) {
    delete s;
    return;
  }
  s->on_receive = s->on_drain = s->arena_ref = s->meta_ref = s->self = nullptr;
  s->async_context = nullptr;
  CloseSocket(s);
}

// The environment is going away with the socket still open (e.g. a worker ending).
void EnvCleanup(void* arg) { CloseSocket(static_cast<Socket*>(arg)); }

// napi_get_typedarray_info fails cleanly on anything but a typed array.
uint8_t* BufferData(napi_env env, napi_value value, size_t* length) { return braid::TypedData(env, value, length); }

// new NativeUdpSocket(family 4|6, arena: Uint8Array, meta: Uint8Array, slotSize, onReceive(count), onDrain())
napi_value Construct(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_value self;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  if (argc < 6) {
    napi_throw_type_error(env, nullptr, "NativeUdpSocket(family, arena, meta, slotSize, onReceive, onDrain)");
    return nullptr;
  }
  int32_t family = 0;
  uint32_t slot_size = 0;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &family));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &slot_size));
  size_t arena_len = 0, meta_len = 0;
  uint8_t* arena = BufferData(env, argv[1], &arena_len);
  uint8_t* meta = BufferData(env, argv[2], &meta_len);
  if ((family != 4 && family != 6) || arena == nullptr || meta == nullptr || slot_size < 1500 ||
      arena_len < slot_size || (reinterpret_cast<uintptr_t>(meta) % alignof(ReceiveMeta)) != 0) {
    napi_throw_range_error(env, nullptr, "bad NativeUdpSocket arguments");
    return nullptr;
  }
  size_t slots = arena_len / slot_size;
  if (meta_len < slots * sizeof(ReceiveMeta)) {
    napi_throw_range_error(env, nullptr, "metadata table too small for the arena's slots");
    return nullptr;
  }
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  Socket* s = new Socket();
  s->env = env;
  s->fd = fd;
  s->family = family == 6 ? AF_INET6 : AF_INET;
  s->arena = arena;
  s->slot_size = slot_size;
  s->slot_count = slots;
  s->meta = reinterpret_cast<ReceiveMeta*>(meta);
  int one = 1;
  s->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  if (s->family == AF_INET) {
    s->pktinfo = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0;
  } else {
    s->pktinfo = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0;
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);  // for IPv4-mapped peers on a dual-stack socket
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &s->poll, fd) != 0 || uv_timer_init(loop, &s->retry_timer) != 0) {
    close(fd);
    delete s;
    napi_throw_error(env, nullptr, "uv_poll_init failed");
    return nullptr;
  }
  s->handles_open = 2;
  s->poll.data = s;
  s->retry_timer.data = s;
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->retry_timer));
  napi_create_reference(env, argv[1], 1, &s->arena_ref);
  napi_create_reference(env, argv[2], 1, &s->meta_ref);
  napi_create_reference(env, argv[4], 1, &s->on_receive);
  napi_create_reference(env, argv[5], 1, &s->on_drain);
  napi_value resource_name;
  napi_create_string_utf8(env, "braid:NativeUdpSocket", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, self, resource_name, &s->async_context);
  NAPI_CALL(env, napi_wrap(env, self, s, Finalize, nullptr, nullptr));
  napi_create_reference(env, self, 1, &s->self);
  napi_add_env_cleanup_hook(env, EnvCleanup, s);
  return self;
}

// bind(host: string, port: number, ipv6Only: boolean) → [address, port]
napi_value Bind(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (!s) return nullptr;
  if (s->closing) return ThrowErrno(env, EBADF, "bind");
  char host[64];
  size_t host_len = 0;
  uint32_t port = 0;
  bool v6only = false;
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[1], &port));
  NAPI_CALL(env, napi_get_value_bool(env, argv[2], &v6only));
  if (port > 65535) return ThrowErrno(env, EINVAL, "bind");
  sockaddr_storage addr{};
  socklen_t len;
  if (s->family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) return ThrowErrno(env, EINVAL, "bind");
    len = sizeof *sin;
  } else {
    int flag = v6only ? 1 : 0;
    setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &flag, sizeof flag);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    char plain[64];
    strncpy(plain, host, sizeof plain - 1);
    plain[sizeof plain - 1] = 0;
    char* percent = strchr(plain, '%');
    if (percent) {
      *percent = 0;
      sin6->sin6_scope_id = static_cast<uint32_t>(atoi(percent + 1));
    }
    if (inet_pton(AF_INET6, plain, &sin6->sin6_addr) != 1) return ThrowErrno(env, EINVAL, "bind");
    len = sizeof *sin6;
  }
  if (bind(s->fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) return ThrowErrno(env, errno, "bind");
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  getsockname(s->fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  char text[INET6_ADDRSTRLEN];
  uint16_t bound_port;
  if (bound.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&bound);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    bound_port = ntohs(sin->sin_port);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&bound);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    bound_port = ntohs(sin6->sin6_port);
  }
  napi_value result, address_value, port_value;
  napi_create_array_with_length(env, 2, &result);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address_value);
  napi_create_uint32(env, bound_port, &port_value);
  napi_set_element(env, result, 0, address_value);
  napi_set_element(env, result, 1, port_value);
  return result;
}

// setBufferSizes(recv, send) → [recv, send] as the kernel reports them
napi_value SetBufferSizes(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (!s) return nullptr;
  if (s->closing) return ThrowErrno(env, EBADF, "setsockopt");
  int32_t rcv = 0, snd = 0;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &rcv));
  NAPI_CALL(env, napi_get_value_int32(env, argv[1], &snd));
  if (rcv > 0) setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  int got_rcv = 0, got_snd = 0;
  socklen_t l = sizeof got_rcv;
  getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &got_rcv, &l);
  l = sizeof got_snd;
  getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &got_snd, &l);
  napi_value result, a, b;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, got_rcv, &a);
  napi_create_int32(env, got_snd, &b);
  napi_set_element(env, result, 0, a);
  napi_set_element(env, result, 1, b);
  return result;
}

// send(data: Uint8Array, offset, length, segmentSize, dest: Uint8Array(24), source: Uint8Array(24) | null)
//   → 0 sent, 1 queued (socket blocked; onDrain follows), or -errno (the datagrams were dropped)
napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (!s) return nullptr;
  napi_value result;
  if (s->closing) {
    napi_create_int32(env, -EBADF, &result);
    return result;
  }
  size_t data_len = 0, dest_len_bytes = 0;
  uint8_t* data = BufferData(env, argv[0], &data_len);
  uint32_t offset = 0, length = 0, segment = 0;
  napi_get_value_uint32(env, argv[1], &offset);
  napi_get_value_uint32(env, argv[2], &length);
  napi_get_value_uint32(env, argv[3], &segment);
  uint8_t* dest_bytes = BufferData(env, argv[4], &dest_len_bytes);
  if (!data || !dest_bytes || dest_len_bytes < kEncodedAddressBytes || static_cast<size_t>(offset) + length > data_len ||
      length == 0 || length > kMaxSendBytes * kMaxSegments ||
      (segment > 0 && ((length + segment - 1) / segment > kMaxSegments || (length > segment && length > kMaxSendBytes)))) {
    napi_throw_range_error(env, nullptr, "bad send arguments");
    return nullptr;
  }
  Source source;
  napi_valuetype source_type;
  napi_typeof(env, argv[5], &source_type);
  if (source_type == napi_object) {
    size_t source_len = 0;
    uint8_t* src = BufferData(env, argv[5], &source_len);
    if (src && source_len >= kEncodedAddressBytes && (src[0] == 4 || src[0] == 6)) {
      source.family = src[0] == 4 ? AF_INET : AF_INET6;
      memcpy(source.addr, src + 4, 16);
    }
  }
  sockaddr_storage dest;
  socklen_t dest_len = DecodeAddress(dest_bytes, s->family, &dest);
  if (dest_len == 0) {
    napi_create_int32(env, -EAFNOSUPPORT, &result);
    return result;
  }
  const uint8_t* bytes = data + offset;
  if (segment >= length) segment = 0;
  // Result: 0 sent, 1 queued, or -(dropped * 65536 + errno) when datagrams were refused for good.
  double status = kSent;
  if (!s->pending.empty()) {
    // Keep order: behind what is already waiting.
    if (s->pending_bytes + length > kMaxPendingBytes) {
      size_t seg = segment > 0 ? segment : length;
      status = -(static_cast<double>((length + seg - 1) / seg) * 65536 + ENOBUFS);
    } else {
      Enqueue(s, bytes, length, segment, dest, dest_len, source);
      status = kQueued;
    }
  } else {
    size_t done = 0;
    size_t dropped = 0;
    int hard_error = 0;
    while (done < length) {
      Attempt a = SendNow(s, bytes + done, length - done, segment, dest, dest_len, source);
      done += a.sent_bytes;
      if (a.error == 0) break;
      if (IsRetryable(a.error)) {
        Enqueue(s, bytes + done, length - done, segment, dest, dest_len, source);
        s->writable_wanted = true;
        UpdatePoll(s);
        status = kQueued;
        break;
      }
      // This datagram is refused (e.g. ENETUNREACH): count it and go on with the next one.
      size_t seg = segment > 0 ? segment : length - done;
      done += seg < length - done ? seg : length - done;
      dropped++;
      hard_error = a.error;
    }
    if (dropped > 0) status = -(static_cast<double>(dropped) * 65536 + hard_error);
  }
  napi_create_double(env, status, &result);
  return result;
}

napi_value StartReceiving(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s) return nullptr;
  if (!s->closing) {
    s->receiving = true;
    UpdatePoll(s);
    if (!s->referenced) uv_unref(reinterpret_cast<uv_handle_t*>(&s->poll));
  }
  return nullptr;
}

napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s) return nullptr;
  CloseSocket(s);
  return nullptr;
}

napi_value SetRef(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (!s) return nullptr;
  bool ref = true;
  napi_get_value_bool(env, argv[0], &ref);
  s->referenced = ref;
  if (!s->closing) {
    if (ref) uv_ref(reinterpret_cast<uv_handle_t*>(&s->poll));
    else uv_unref(reinterpret_cast<uv_handle_t*>(&s->poll));
  }
  return nullptr;
}

void SetNumber(napi_env env, napi_value obj, const char* name, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, obj, name, v);
}

napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s) return nullptr;
  napi_value obj;
  napi_create_object(env, &obj);
  SetNumber(env, obj, "gsoFallbacks", s->gso_fallbacks);
  SetNumber(env, obj, "queuedSends", s->queued_sends);
  SetNumber(env, obj, "pendingDrops", s->pending_drops);
  SetNumber(env, obj, "pendingBytes", static_cast<double>(s->pending_bytes));
  SetNumber(env, obj, "truncated", s->truncated);
  SetNumber(env, obj, "receiveErrors", s->receive_errors);
  SetNumber(env, obj, "receiveCalls", s->receive_calls);
  SetNumber(env, obj, "sendCalls", s->send_calls);
  return obj;
}

napi_value Features(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s) return nullptr;
  int features = (s->gso ? kFeatureGso : 0) | (s->gro ? kFeatureGro : 0) | (s->pktinfo ? kFeaturePktinfo : 0);
  napi_value v;
  napi_create_int32(env, features, &v);
  return v;
}

// disableGso(): for tests and for paths known not to support it.
napi_value DisableGso(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s) return nullptr;
  s->gso = false;
  return nullptr;
}

// encodeAddress(host, port) → Uint8Array(24), or null if host is not an IP literal.
napi_value EncodeAddress(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char host[64];
  size_t host_len = 0;
  uint32_t port = 0;
  napi_value null_value;
  napi_get_null(env, &null_value);
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len) != napi_ok) return null_value;
  if (napi_get_value_uint32(env, argv[1], &port) != napi_ok || port > 65535) return null_value;
  uint8_t out[kEncodedAddressBytes] = {0};
  out[2] = static_cast<uint8_t>(port >> 8);
  out[3] = static_cast<uint8_t>(port & 0xff);
  char* percent = strchr(host, '%');
  uint32_t scope = 0;
  if (percent) {
    *percent = 0;
    scope = static_cast<uint32_t>(atoi(percent + 1));
  }
  if (inet_pton(AF_INET, host, out + 4) == 1) {
    out[0] = 4;
  } else if (inet_pton(AF_INET6, host, out + 4) == 1) {
    out[0] = 6;
    out[20] = scope & 0xff;
    out[21] = (scope >> 8) & 0xff;
    out[22] = (scope >> 16) & 0xff;
    out[23] = (scope >> 24) & 0xff;
  } else {
    return null_value;
  }
  napi_value arraybuffer, result;
  void* data;
  napi_create_arraybuffer(env, kEncodedAddressBytes, &data, &arraybuffer);
  memcpy(data, out, kEncodedAddressBytes);
  napi_create_typedarray(env, napi_uint8_array, kEncodedAddressBytes, arraybuffer, 0, &result);
  return result;
}

// formatAddress(bytes: Uint8Array, offset, family 4|6) → string (inet_ntop form, as dgram reports it)
napi_value FormatAddress(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  size_t len = 0;
  uint8_t* bytes = BufferData(env, argv[0], &len);
  uint32_t offset = 0;
  int32_t family = 0;
  napi_get_value_uint32(env, argv[1], &offset);
  napi_get_value_int32(env, argv[2], &family);
  if (!bytes || offset + (family == 6 ? 16u : 4u) > len || (family != 4 && family != 6)) {
    napi_throw_range_error(env, nullptr, "bad formatAddress arguments");
    return nullptr;
  }
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, bytes + offset, text, sizeof text);
  napi_value result;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result);
  return result;
}

// metaLayout() → the byte offsets of ReceiveMeta's fields and its size, as this build lays it
// out: src/endpoint/receive-meta.ts must say the same (the JS side checks it at load).
napi_value MetaLayout(napi_env env, napi_callback_info info) {
  napi_value layout;
  napi_create_object(env, &layout);
  SetNumber(env, layout, "size", sizeof(ReceiveMeta));
  SetNumber(env, layout, "offset", offsetof(ReceiveMeta, offset));
  SetNumber(env, layout, "length", offsetof(ReceiveMeta, length));
  SetNumber(env, layout, "segmentSize", offsetof(ReceiveMeta, segment_size));
  SetNumber(env, layout, "remotePort", offsetof(ReceiveMeta, remote_port));
  SetNumber(env, layout, "remoteFamily", offsetof(ReceiveMeta, remote_family));
  SetNumber(env, layout, "localFamily", offsetof(ReceiveMeta, local_family));
  SetNumber(env, layout, "remoteAddress", offsetof(ReceiveMeta, remote_address));
  SetNumber(env, layout, "localAddress", offsetof(ReceiveMeta, local_address));
  SetNumber(env, layout, "localInterface", offsetof(ReceiveMeta, local_interface));
  SetNumber(env, layout, "remoteScopeId", offsetof(ReceiveMeta, remote_scope_id));
  return layout;
}

// notifyDatagram(path: string, message: Uint8Array): one datagram to the AF_UNIX datagram
// socket at `path`; a leading '@' names an abstract socket (as NOTIFY_SOCKET spells it).
// Throws the errno of socket() or sendto() (e.g. ENOENT, ECONNREFUSED, EAGAIN).
napi_value NotifyDatagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  // One byte more than sun_path holds, to tell a path that fits from one that was cut.
  char path[sizeof address.sun_path + 1];
  size_t path_len = 0;
  size_t message_len = 0;
  uint8_t* message = argc == 2 ? BufferData(env, argv[1], &message_len) : nullptr;
  if (argc != 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok ||
      message == nullptr) {
    napi_throw_type_error(env, nullptr, "notifyDatagram(path: string, message: Uint8Array)");
    return nullptr;
  }
  const bool abstract = path_len > 0 && path[0] == '@';
  // A filesystem path needs its terminating NUL inside sun_path; an abstract name does not.
  if (path_len < 2 || path_len > sizeof address.sun_path - (abstract ? 0 : 1)) {
    napi_throw_range_error(env, nullptr, "notifyDatagram: the socket path is empty or too long");
    return nullptr;
  }
  memcpy(address.sun_path, path, path_len);
  if (abstract) address.sun_path[0] = 0;
  const socklen_t address_len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_len + (abstract ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return braid::ThrowErrno(env, errno, "socket");
  ssize_t sent = sendto(fd, message, message_len, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address), address_len);
  int err = errno;
  close(fd);
  if (sent < 0) return braid::ThrowErrno(env, err, "sendto");
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  // libuv may run a handle's close callback after Node has unloaded the addon (a worker
  // ending with a socket open): keep this code mapped for the life of the process.
  Dl_info self_info;
  if (dladdr(reinterpret_cast<void*>(&OnHandleClosed), &self_info) != 0 && self_info.dli_fname != nullptr) {
    dlopen(self_info.dli_fname, RTLD_NOW | RTLD_NODELETE);
  }
  napi_property_descriptor methods[] = {
      {"bind", nullptr, Bind, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setBufferSizes", nullptr, SetBufferSizes, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"send", nullptr, Send, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"startReceiving", nullptr, StartReceiving, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setRef", nullptr, SetRef, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"features", nullptr, Features, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"disableGso", nullptr, DisableGso, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  NAPI_CALL(env, napi_define_class(env, "NativeUdpSocket", NAPI_AUTO_LENGTH, Construct, nullptr,
                                   sizeof methods / sizeof methods[0], methods, &cls));
  napi_property_descriptor props[] = {
      {"NativeUdpSocket", nullptr, nullptr, nullptr, nullptr, cls, napi_enumerable, nullptr},
      {"encodeAddress", nullptr, EncodeAddress, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"formatAddress", nullptr, FormatAddress, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"metaLayout", nullptr, MetaLayout, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"notifyDatagram", nullptr, NotifyDatagram, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value constants;
  napi_create_object(env, &constants);
  SetNumber(env, constants, "maxSegments", kMaxSegments);
  SetNumber(env, constants, "maxSendBytes", kMaxSendBytes);
  SetNumber(env, constants, "featureGso", kFeatureGso);
  SetNumber(env, constants, "featureGro", kFeatureGro);
  SetNumber(env, constants, "featurePktinfo", kFeaturePktinfo);
  SetNumber(env, constants, "queued", kQueued);
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
