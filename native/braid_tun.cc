// A Linux TUN device for `braid vpn` (src/vpn/tun-device.ts): /dev/net/tun opened with
// IFF_TUN | IFF_NO_PI, non-blocking, readiness through libuv (uv_poll_t) on Node's own event
// loop, so reading or writing a packet never blocks the loop.
//
// The JavaScript side owns the receive arena (slots of `slotSize` bytes) and a Uint32Array of
// packet lengths; one readiness callback reads up to one packet per slot and calls
// onPackets(count) once. Addresses, MTU and routes are set with the `ip` command by the caller.
//
// Error contract: write() returns the bytes written or -errno (the caller counts the drop);
// only the constructor and bad arguments throw.

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errno.h"
#include "napi_typed.h"

#define NAPI_CALL(env, call)          \
  do {                                \
    if ((call) != napi_ok) {          \
      return nullptr;                 \
    }                                 \
  } while (0)

namespace {

using braid::ThrowErrno;

struct Tun {
  napi_env env = nullptr;
  napi_ref self = nullptr;  // strong while open: the wrapper must outlive its uv handle
  napi_ref on_packets = nullptr;
  napi_ref arena_ref = nullptr;
  napi_ref lengths_ref = nullptr;
  napi_async_context async_context = nullptr;
  uv_poll_t poll;
  bool handle_open = false;
  bool closing = false;
  bool wrapper_gone = false;
  int fd = -1;
  char name[IFNAMSIZ] = {0};
  uint8_t* arena = nullptr;
  uint32_t* lengths = nullptr;
  size_t slot_size = 0;
  size_t slot_count = 0;
  double read_errors = 0;
};

void EnvCleanup(void* arg);

void ReleaseRefs(Tun* t) {
  napi_remove_env_cleanup_hook(t->env, EnvCleanup, t);
  napi_env env = t->env;
  if (t->on_packets) napi_delete_reference(env, t->on_packets);
  if (t->arena_ref) napi_delete_reference(env, t->arena_ref);
  if (t->lengths_ref) napi_delete_reference(env, t->lengths_ref);
  if (t->async_context) napi_async_destroy(env, t->async_context);
  t->on_packets = t->arena_ref = t->lengths_ref = nullptr;
  t->async_context = nullptr;
  if (t->self) {
    napi_ref self = t->self;
    t->self = nullptr;
    napi_delete_reference(env, self);  // the wrapper may now be collected; its finalizer frees t
  }
}

void OnHandleClosed(uv_handle_t* handle) {
  Tun* t = static_cast<Tun*>(handle->data);
  t->handle_open = false;
  if (t->wrapper_gone) {
    delete t;  // the environment may be gone: no Node-API calls
    return;
  }
  ReleaseRefs(t);
}

void CloseTun(Tun* t) {
  if (t->closing) return;
  t->closing = true;
  if (t->fd >= 0) {
    uv_poll_stop(&t->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), OnHandleClosed);
    close(t->fd);  // the device (not persistent) goes with its last descriptor
    t->fd = -1;
  }
}

void Finalize(napi_env, void* data, void*) {
  Tun* t = static_cast<Tun*>(data);
  t->wrapper_gone = true;
  if (!t->handle_open) {
    delete t;
    return;
  }
  t->on_packets = t->arena_ref = t->lengths_ref = t->self = nullptr;
  t->async_context = nullptr;
  CloseTun(t);
}

void EnvCleanup(void* arg) { CloseTun(static_cast<Tun*>(arg)); }

void OnPoll(uv_poll_t* handle, int status, int events) {
  Tun* t = static_cast<Tun*>(handle->data);
  if (t->closing || status < 0) return;
  size_t count = 0;
  while (count < t->slot_count) {
    ssize_t n = read(t->fd, t->arena + count * t->slot_size, t->slot_size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) t->read_errors++;
      break;
    }
    t->lengths[count++] = static_cast<uint32_t>(n);
  }
  if (count == 0) return;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, self, arg, result;
  if (napi_get_reference_value(env, t->on_packets, &fn) == napi_ok && fn != nullptr &&
      napi_get_reference_value(env, t->self, &self) == napi_ok && self != nullptr) {
    napi_create_uint32(env, static_cast<uint32_t>(count), &arg);
    if (napi_make_callback(env, t->async_context, self, fn, 1, &arg, &result) == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);  // surfaces as 'uncaughtException', like any callback
    }
  }
  napi_close_handle_scope(env, scope);
}

Tun* Unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  if (napi_get_cb_info(env, info, argc, argv, &self, nullptr) != napi_ok) return nullptr;
  void* data = nullptr;
  if (napi_unwrap(env, self, &data) != napi_ok || data == nullptr) {
    napi_throw_type_error(env, nullptr, "not a TunDevice");
    return nullptr;
  }
  return static_cast<Tun*>(data);
}

// new TunDevice(name: string ('' lets the kernel pick braid-less tunN), arena, lengths: Uint32Array,
// slotSize, onPackets(count))
napi_value Construct(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_value self;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  if (argc < 5) {
    napi_throw_type_error(env, nullptr, "TunDevice(name, arena, lengths, slotSize, onPackets)");
    return nullptr;
  }
  char name[IFNAMSIZ + 1] = {0};
  size_t name_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok || name_len >= IFNAMSIZ) {
    napi_throw_range_error(env, nullptr, "the interface name must be a string of at most 15 bytes");
    return nullptr;
  }
  uint32_t slot_size = 0;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &slot_size));
  size_t arena_len = 0;
  uint8_t* arena = braid::TypedData(env, argv[1], &arena_len);
  napi_typedarray_type type;
  size_t lengths_count = 0;
  void* lengths = nullptr;
  napi_value lengths_buffer;
  size_t lengths_offset = 0;
  if (napi_get_typedarray_info(env, argv[2], &type, &lengths_count, &lengths, &lengths_buffer, &lengths_offset) !=
          napi_ok ||
      type != napi_uint32_array) {
    lengths = nullptr;
  }
  if (arena == nullptr || lengths == nullptr || slot_size < 1280 || arena_len < slot_size ||
      lengths_count < arena_len / slot_size) {
    napi_throw_range_error(env, nullptr, "bad TunDevice arguments");
    return nullptr;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open /dev/net/tun");
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(request.ifr_name, name, name_len);
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "ioctl TUNSETIFF");
  }
  Tun* t = new Tun();
  t->env = env;
  t->fd = fd;
  memcpy(t->name, request.ifr_name, IFNAMSIZ - 1);
  t->arena = arena;
  t->lengths = static_cast<uint32_t*>(lengths);
  t->slot_size = slot_size;
  t->slot_count = arena_len / slot_size;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &t->poll, fd) != 0) {
    close(fd);
    delete t;
    napi_throw_error(env, nullptr, "uv_poll_init failed");
    return nullptr;
  }
  t->handle_open = true;
  t->poll.data = t;
  napi_create_reference(env, argv[1], 1, &t->arena_ref);
  napi_create_reference(env, argv[2], 1, &t->lengths_ref);
  napi_create_reference(env, argv[4], 1, &t->on_packets);
  napi_value resource_name;
  napi_create_string_utf8(env, "braid:TunDevice", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, self, resource_name, &t->async_context);
  NAPI_CALL(env, napi_wrap(env, self, t, Finalize, nullptr, nullptr));
  napi_create_reference(env, self, 1, &t->self);
  napi_add_env_cleanup_hook(env, EnvCleanup, t);
  uv_poll_start(&t->poll, UV_READABLE, OnPoll);
  return self;
}

// name() → the interface name the kernel gave the device.
napi_value Name(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Tun* t = Unwrap(env, info, &argc, nullptr);
  if (!t) return nullptr;
  napi_value result;
  napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &result);
  return result;
}

// write(packet: Uint8Array) → bytes written, or -errno (EAGAIN when the device queue is full).
napi_value Write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Tun* t = Unwrap(env, info, &argc, argv);
  if (!t) return nullptr;
  size_t length = 0;
  uint8_t* data = braid::TypedData(env, argv[0], &length);
  if (argc < 1 || data == nullptr) {
    napi_throw_type_error(env, nullptr, "write(packet: Uint8Array)");
    return nullptr;
  }
  int32_t result = -EBADF;
  if (t->fd >= 0) {
    ssize_t n;
    do {
      n = write(t->fd, data, length);
    } while (n < 0 && errno == EINTR);
    result = n < 0 ? -errno : static_cast<int32_t>(n);
  }
  napi_value value;
  napi_create_int32(env, result, &value);
  return value;
}

// setRef(referenced): whether the open device alone keeps the process alive.
napi_value SetRef(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Tun* t = Unwrap(env, info, &argc, argv);
  if (!t) return nullptr;
  bool ref = true;
  napi_get_value_bool(env, argv[0], &ref);
  if (t->handle_open && !t->closing) {
    if (ref) uv_ref(reinterpret_cast<uv_handle_t*>(&t->poll));
    else uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  }
  return nullptr;
}

napi_value ReadErrors(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Tun* t = Unwrap(env, info, &argc, nullptr);
  if (!t) return nullptr;
  napi_value value;
  napi_create_double(env, t->read_errors, &value);
  return value;
}

napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Tun* t = Unwrap(env, info, &argc, nullptr);
  if (!t) return nullptr;
  CloseTun(t);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  // libuv may run the handle's close callback after Node has unloaded the addon: keep it mapped.
  Dl_info self_info;
  if (dladdr(reinterpret_cast<void*>(&OnHandleClosed), &self_info) != 0 && self_info.dli_fname != nullptr) {
    dlopen(self_info.dli_fname, RTLD_NOW | RTLD_NODELETE);
  }
  napi_property_descriptor methods[] = {
      {"name", nullptr, Name, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"write", nullptr, Write, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setRef", nullptr, SetRef, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"readErrors", nullptr, ReadErrors, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  NAPI_CALL(env, napi_define_class(env, "TunDevice", NAPI_AUTO_LENGTH, Construct, nullptr,
                                   sizeof methods / sizeof methods[0], methods, &cls));
  NAPI_CALL(env, napi_set_named_property(env, exports, "TunDevice", cls));
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
