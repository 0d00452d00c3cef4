// braid_netlink: tells JavaScript at once when the host's addresses or links change.
//
// Node has no interface-change event, so the shell polls os.networkInterfaces()
// (src/endpoint/interfaces.ts). This addon removes the wait: a NETLINK_ROUTE socket subscribed
// to the address and link multicast groups, read by one small thread that calls back into
// JavaScript (a thread-safe function, so the callback runs on Node's own thread) once per burst
// of kernel notifications. JavaScript then re-reads the interface list: the addon says only
// "something changed", never what, so the poller stays the one source of truth.
//
// A thread rather than a uv_poll handle on Node's loop: the watcher lives for the whole process
// and its only output is a wake-up, so a blocking poll() on two descriptors (the netlink socket
// and an eventfd that asks the thread to stop) is the simplest correct lifecycle.
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <node_api.h>

#include "napi_errno.h"

namespace {

struct Watch {
  int netlink_fd = -1;
  int stop_fd = -1;
  napi_threadsafe_function callback = nullptr;
  std::thread reader;
  std::atomic<bool> running{false};
  // Counters (read by JS through stats()).
  std::atomic<double> notifications{0};
  std::atomic<double> overflows{0};
  std::atomic<double> wakeups{0};
};

Watch* g_watch = nullptr;  // one per process: every endpoint shares the poller that uses it

using braid::ThrowErrno;

// Reads every queued notification; true if one of them (or a lost one) concerns addresses or links.
bool Drain(Watch* w) {
  alignas(nlmsghdr) char buffer[16384];
  bool relevant = false;
  for (;;) {
    ssize_t n = recv(w->netlink_fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      // ENOBUFS: the kernel dropped notifications for us; we no longer know the state, so re-read.
      if (errno == ENOBUFS) {
        w->overflows = w->overflows + 1;
        relevant = true;
        continue;
      }
      return relevant;  // EAGAIN: drained
    }
    int length = static_cast<int>(n);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, length); h = NLMSG_NEXT(h, length)) {
      switch (h->nlmsg_type) {
        case RTM_NEWADDR:
        case RTM_DELADDR:
        case RTM_NEWLINK:
        case RTM_DELLINK:
          w->notifications = w->notifications + 1;
          relevant = true;
          break;
        default:
          break;
      }
    }
  }
}

void ReadLoop(Watch* w) {
  pollfd fds[2] = {{w->netlink_fd, POLLIN, 0}, {w->stop_fd, POLLIN, 0}};
  while (w->running.load()) {
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    if ((fds[0].revents & POLLIN) && Drain(w)) {
      w->wakeups = w->wakeups + 1;
      // Non-blocking: a queue full of wake-ups already asks JavaScript to re-read.
      napi_call_threadsafe_function(w->callback, nullptr, napi_tsfn_nonblocking);
    }
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) break;
  }
}

void CallJs(napi_env env, napi_value js_callback, void* context, void* data) {
  if (env == nullptr || js_callback == nullptr) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_callback, 0, nullptr, nullptr);
}

void Stop(Watch* w) {
  if (w->running.exchange(false)) {
    uint64_t one = 1;
    ssize_t ignored = write(w->stop_fd, &one, sizeof one);
    (void)ignored;
  }
  if (w->reader.joinable()) w->reader.join();
  if (w->netlink_fd >= 0) close(w->netlink_fd);
  if (w->stop_fd >= 0) close(w->stop_fd);
  w->netlink_fd = w->stop_fd = -1;
}

void EnvCleanup(void* arg) {
  Watch* w = static_cast<Watch*>(arg);
  Stop(w);
  if (g_watch == w) g_watch = nullptr;
  delete w;
}

// start(callback): opens the watch (once per process). Throws with errno where netlink is refused.
napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, nullptr, "start(callback): callback must be a function");
    return nullptr;
  }
  if (g_watch != nullptr) {
    napi_throw_error(env, nullptr, "the netlink watch is already running");
    return nullptr;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return ThrowErrno(env, errno, "socket(AF_NETLINK)");
  sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "bind(NETLINK_ROUTE)");
  }
  int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "eventfd");
  }
  Watch* w = new Watch();
  w->netlink_fd = fd;
  w->stop_fd = stop;
  napi_value name;
  napi_create_string_utf8(env, "braid:netlink-watch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], nullptr, name, 16, 1, nullptr, nullptr, nullptr, CallJs,
                                      &w->callback) != napi_ok) {
    Stop(w);
    delete w;
    napi_throw_error(env, nullptr, "napi_create_threadsafe_function failed");
    return nullptr;
  }
  // The watch never keeps the process alive: the poller's own timer is unref'd too.
  napi_unref_threadsafe_function(env, w->callback);
  w->running = true;
  w->reader = std::thread(ReadLoop, w);
  g_watch = w;
  napi_add_env_cleanup_hook(env, EnvCleanup, w);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

// stop(): ends the watch (idempotent).
napi_value StopJs(napi_env env, napi_callback_info info) {
  Watch* w = g_watch;
  if (w != nullptr) {
    g_watch = nullptr;
    napi_remove_env_cleanup_hook(env, EnvCleanup, w);
    Stop(w);
    napi_release_threadsafe_function(w->callback, napi_tsfn_release);
    delete w;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

// stats(): { running, notifications, overflows, wakeups }.
napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value out, value;
  napi_create_object(env, &out);
  Watch* w = g_watch;
  napi_get_boolean(env, w != nullptr, &value);
  napi_set_named_property(env, out, "running", value);
  napi_create_double(env, w ? w->notifications.load() : 0, &value);
  napi_set_named_property(env, out, "notifications", value);
  napi_create_double(env, w ? w->overflows.load() : 0, &value);
  napi_set_named_property(env, out, "overflows", value);
  napi_create_double(env, w ? w->wakeups.load() : 0, &value);
  napi_set_named_property(env, out, "wakeups", value);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"start", nullptr, Start, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stop", nullptr, StopJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
