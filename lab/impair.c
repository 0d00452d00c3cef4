// impair: the netns lab's impairment element (docs/lab.md). It attaches to TUN devices in the
// lab's router namespace; policy routing by ingress interface sends one provider link's traffic
// in one direction into one TUN. Every packet read from a TUN is dropped, delayed, rate-limited
// or duplicated as that device's settings say, then written back into the same TUN, from where
// the kernel forwards it on through the main routing table. Settings change at run time over a
// UNIX control socket (one text line per command), so a test can alter a link mid-transfer.
//
//   impair run --socket PATH [--seed N] DEV...      forward until killed
//   impair ctl --socket PATH COMMAND...             send one command, print the reply
//
// Commands: set DEV key=value...  (keys below; unnamed keys keep their value)
//           reset DEV|all        (no impairment)
//           show DEV             (settings as key=value)
//           stats                (counters of every device, one JSON object)
//
// Per packet, in order: MTU clamp (oversize packets vanish, no ICMP: a PMTU black hole), random
// loss, Gilbert–Elliott loss, duplication, then a bottleneck of `rate_bps` with a tail-drop
// queue of `queue_ms` (or `queue_bytes`), then one-way `delay_ms` plus jitter drawn uniformly
// from [0, jitter_ms]. With reorder=0 a packet never leaves before the one ahead of it (jitter
// without reordering); with reorder=1 each packet leaves when its own delay ends.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 8
#define MAX_CLIENTS 8
#define MAX_PACKET 65536
#define LINE_MAX_BYTES 1024
// Packets held at once, over all devices: beyond this (a misconfigured queue), drop and count.
#define MAX_HELD 400000
// Packets read per device per loop turn, so one busy device cannot starve the timer.
#define READ_BURST 64

typedef struct {
  double delay_ms, jitter_ms, loss, ge_p, ge_r, ge_loss_bad, dup;
  int reorder;
  double rate_bps;  // 0: unlimited
  double queue_ms;  // 0 with queue_bytes 0: unbounded
  double queue_bytes;
  int mtu;  // 0: no clamp
} settings_t;

typedef struct {
  uint64_t rx, tx, drop_mtu, drop_loss, drop_burst, drop_queue, drop_overflow, duplicated, write_errors;
  uint64_t max_backlog_ns;
  // Time the bottleneck had nothing to send (a rate is only measured where this did not grow).
  uint64_t idle_ns;
  // How late packets left against their release time: the element's own timing error.
  uint64_t late_max_ns, late_over_1ms;
} counters_t;

typedef struct {
  char name[IFNAMSIZ];
  int fd;
  settings_t settings;
  counters_t counters;
  int ge_bad;             // Gilbert–Elliott state
  uint64_t link_free_ns;  // when the bottleneck finishes sending what it holds
  uint64_t last_release_ns;
} device_t;

typedef struct {
  uint64_t release_ns;
  uint64_t seq;
  int device;
  uint32_t len;
  unsigned char *data;
} held_t;

static device_t devices[MAX_DEVICES];
static int device_count;
static held_t *heap;
static size_t heap_len, heap_cap;
static uint64_t next_seq;

// xoshiro256** with a splitmix64-expanded seed: fast, and a fixed --seed replays a run.
static uint64_t rng_state[4];
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rng_next(void) {
  uint64_t *s = rng_state;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }
static void rng_seed(uint64_t seed) {
  for (int i = 0; i < 4; i++) {
    uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    rng_state[i] = z ^ (z >> 31);
  }
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("impair: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

// --- the release heap: held packets ordered by release time, then arrival ---------------------

static int held_before(const held_t *a, const held_t *b) {
  return a->release_ns < b->release_ns || (a->release_ns == b->release_ns && a->seq < b->seq);
}
static void heap_push(held_t item) {
  if (heap_len == heap_cap) {
    heap_cap = heap_cap ? heap_cap * 2 : 4096;
    heap = realloc(heap, heap_cap * sizeof *heap);
    if (!heap) die("out of memory");
  }
  size_t i = heap_len++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!held_before(&item, &heap[parent])) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = item;
}
static held_t heap_pop(void) {
  held_t top = heap[0], last = heap[--heap_len];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= heap_len) break;
    if (child + 1 < heap_len && held_before(&heap[child + 1], &heap[child])) child++;
    if (!held_before(&heap[child], &last)) break;
    heap[i] = heap[child];
    i = child;
  }
  if (heap_len > 0) heap[i] = last;
  return top;
}

// --- the impairment ---------------------------------------------------------------------------

static void hold(int index, const unsigned char *packet, uint32_t len, uint64_t now) {
  device_t *device = &devices[index];
  const settings_t *s = &device->settings;
  uint64_t depart = now;
  if (s->rate_bps > 0) {
    uint64_t backlog_ns = device->link_free_ns > now ? device->link_free_ns - now : 0;
    double backlog_bytes = (double)backlog_ns * s->rate_bps / 8e9;
    int over_time = s->queue_ms > 0 && (double)backlog_ns > s->queue_ms * 1e6;
    int over_bytes = s->queue_bytes > 0 && backlog_bytes + len > s->queue_bytes;
    if (over_time || over_bytes) {
      device->counters.drop_queue++;
      return;
    }
    if (backlog_ns > device->counters.max_backlog_ns) device->counters.max_backlog_ns = backlog_ns;
    if (device->link_free_ns > 0 && device->link_free_ns < now) device->counters.idle_ns += now - device->link_free_ns;
    uint64_t start = device->link_free_ns > now ? device->link_free_ns : now;
    depart = start + (uint64_t)((double)len * 8e9 / s->rate_bps);
    device->link_free_ns = depart;
  }
  if (heap_len >= MAX_HELD) {
    device->counters.drop_overflow++;
    return;
  }
  uint64_t release = depart + (uint64_t)(s->delay_ms * 1e6);
  if (s->jitter_ms > 0) release += (uint64_t)(rng_uniform() * s->jitter_ms * 1e6);
  if (!s->reorder && release < device->last_release_ns) release = device->last_release_ns;
  device->last_release_ns = release;
  unsigned char *copy = malloc(len);
  if (!copy) die("out of memory");
  memcpy(copy, packet, len);
  heap_push((held_t){.release_ns = release, .seq = next_seq++, .device = index, .len = len, .data = copy});
}

static void arrive(int index, const unsigned char *packet, uint32_t len, uint64_t now) {
  device_t *device = &devices[index];
  const settings_t *s = &device->settings;
  device->counters.rx++;
  if (s->mtu > 0 && len > (uint32_t)s->mtu) {
    device->counters.drop_mtu++;
    return;
  }
  if (s->loss > 0 && rng_uniform() < s->loss) {
    device->counters.drop_loss++;
    return;
  }
  if (s->ge_p > 0 || device->ge_bad) {
    // Move between the states first, then lose by the state's loss probability.
    if (device->ge_bad) {
      if (rng_uniform() < s->ge_r) device->ge_bad = 0;
    } else if (rng_uniform() < s->ge_p) {
      device->ge_bad = 1;
    }
    if (device->ge_bad && rng_uniform() < s->ge_loss_bad) {
      device->counters.drop_burst++;
      return;
    }
  }
  hold(index, packet, len, now);
  if (s->dup > 0 && rng_uniform() < s->dup) {
    device->counters.duplicated++;
    hold(index, packet, len, now);
  }
}

static void release_due(uint64_t now) {
  while (heap_len > 0 && heap[0].release_ns <= now) {
    held_t item = heap_pop();
    device_t *device = &devices[item.device];
    uint64_t late_ns = now - item.release_ns;
    if (late_ns > device->counters.late_max_ns) device->counters.late_max_ns = late_ns;
    if (late_ns > 1000000) device->counters.late_over_1ms++;
    if (write(device->fd, item.data, item.len) == (ssize_t)item.len)
      device->counters.tx++;
    else
      device->counters.write_errors++;
    free(item.data);
  }
}

// --- settings and the control socket ------------------------------------------------------------

static int find_device(const char *name) {
  for (int i = 0; i < device_count; i++)
    if (strcmp(devices[i].name, name) == 0) return i;
  return -1;
}

static void reset_device(device_t *device) {
  memset(&device->settings, 0, sizeof device->settings);
  device->settings.ge_loss_bad = 1;
  device->ge_bad = 0;
}

static int parse_number(const char *text, double low, double high, double *out) {
  char *end;
  errno = 0;
  double value = strtod(text, &end);
  if (errno || end == text || *end != '\0' || !(value >= low && value <= high)) return -1;
  *out = value;
  return 0;
}

// Applies key=value pairs to a copy, so a bad pair leaves the device's settings untouched.
static int apply_settings(device_t *device, char *pairs, char *error, size_t error_size) {
  settings_t next = device->settings;
  for (char *save = NULL, *pair = strtok_r(pairs, " \t", &save); pair; pair = strtok_r(NULL, " \t", &save)) {
    char *eq = strchr(pair, '=');
    if (!eq) {
      snprintf(error, error_size, "expected key=value, got '%s'", pair);
      return -1;
    }
    *eq = '\0';
    const char *key = pair, *text = eq + 1;
    double value;
    struct {
      const char *key;
      double *target;
      double low, high;
    } numbers[] = {
        {"delay_ms", &next.delay_ms, 0, 60000},   {"jitter_ms", &next.jitter_ms, 0, 60000},
        {"loss", &next.loss, 0, 1},               {"ge_p", &next.ge_p, 0, 1},
        {"ge_r", &next.ge_r, 0, 1},               {"ge_loss_bad", &next.ge_loss_bad, 0, 1},
        {"dup", &next.dup, 0, 1},                 {"rate_bps", &next.rate_bps, 0, 1e12},
        {"queue_ms", &next.queue_ms, 0, 60000},   {"queue_bytes", &next.queue_bytes, 0, 1e10},
    };
    int known = 0;
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
      if (strcmp(key, numbers[i].key) != 0) continue;
      known = 1;
      if (parse_number(text, numbers[i].low, numbers[i].high, &value) != 0) {
        snprintf(error, error_size, "bad %s '%s' (%g..%g)", key, text, numbers[i].low, numbers[i].high);
        return -1;
      }
      *numbers[i].target = value;
    }
    if (known) continue;
    if (strcmp(key, "reorder") == 0 || strcmp(key, "mtu") == 0) {
      int is_mtu = key[0] == 'm';
      if (parse_number(text, 0, is_mtu ? MAX_PACKET : 1, &value) != 0 || value != (int)value) {
        snprintf(error, error_size, "bad %s '%s'", key, text);
        return -1;
      }
      if (is_mtu) next.mtu = (int)value;
      else next.reorder = (int)value;
      continue;
    }
    snprintf(error, error_size,
             "unknown key '%s' (delay_ms jitter_ms reorder loss ge_p ge_r ge_loss_bad dup rate_bps queue_ms "
             "queue_bytes mtu)",
             key);
    return -1;
  }
  if (next.ge_p > 0 && next.ge_r <= 0) {
    snprintf(error, error_size, "ge_p > 0 needs ge_r > 0 (or the bad state never ends)");
    return -1;
  }
  device->settings = next;
  if (next.ge_p == 0) device->ge_bad = 0;
  return 0;
}

static void show_settings(const device_t *d, char *out, size_t size) {
  const settings_t *s = &d->settings;
  snprintf(out, size,
           "ok %s delay_ms=%g jitter_ms=%g reorder=%d loss=%g ge_p=%g ge_r=%g ge_loss_bad=%g dup=%g rate_bps=%.0f "
           "queue_ms=%g queue_bytes=%.0f mtu=%d",
           d->name, s->delay_ms, s->jitter_ms, s->reorder, s->loss, s->ge_p, s->ge_r, s->ge_loss_bad, s->dup,
           s->rate_bps, s->queue_ms, s->queue_bytes, s->mtu);
}

static void stats_json(char *out, size_t size) {
  size_t used = (size_t)snprintf(out, size, "ok {\"held\":%zu,\"devices\":{", heap_len);
  uint64_t now = now_ns();
  for (int i = 0; i < device_count && used < size; i++) {
    const counters_t *c = &devices[i].counters;
    // An idle stretch is added when the next packet arrives; the one still running counts now.
    uint64_t idle_ns = c->idle_ns;
    if (devices[i].settings.rate_bps > 0 && devices[i].link_free_ns > 0 && devices[i].link_free_ns < now)
      idle_ns += now - devices[i].link_free_ns;
    used += (size_t)snprintf(out + used, size - used,
                             "%s\"%s\":{\"rx\":%" PRIu64 ",\"tx\":%" PRIu64 ",\"dropMtu\":%" PRIu64
                             ",\"dropLoss\":%" PRIu64 ",\"dropBurst\":%" PRIu64 ",\"dropQueue\":%" PRIu64
                             ",\"dropOverflow\":%" PRIu64 ",\"duplicated\":%" PRIu64 ",\"writeErrors\":%" PRIu64
                             ",\"maxBacklogMs\":%.3f,\"idleMs\":%.3f,\"lateMaxMs\":%.3f,\"lateOver1ms\":%" PRIu64 "}",
                             i ? "," : "", devices[i].name, c->rx, c->tx, c->drop_mtu, c->drop_loss, c->drop_burst,
                             c->drop_queue, c->drop_overflow, c->duplicated, c->write_errors,
                             (double)c->max_backlog_ns / 1e6, (double)idle_ns / 1e6, (double)c->late_max_ns / 1e6,
                             c->late_over_1ms);
  }
  if (used < size) snprintf(out + used, size - used, "}}");
}

static void handle_command(char *line, char *reply, size_t size) {
  char *save = NULL, *verb = strtok_r(line, " \t", &save), *rest = save;
  if (!verb) {
    snprintf(reply, size, "error empty command");
    return;
  }
  if (strcmp(verb, "stats") == 0) {
    stats_json(reply, size);
    return;
  }
  char *name = strtok_r(NULL, " \t", &save);
  rest = save;
  if (!name) {
    snprintf(reply, size, "error %s needs a device", verb);
    return;
  }
  if (strcmp(verb, "reset") == 0 && strcmp(name, "all") == 0) {
    for (int i = 0; i < device_count; i++) reset_device(&devices[i]);
    snprintf(reply, size, "ok");
    return;
  }
  int index = find_device(name);
  if (index < 0) {
    snprintf(reply, size, "error unknown device '%s'", name);
    return;
  }
  if (strcmp(verb, "set") == 0) {
    char error[256];
    if (apply_settings(&devices[index], rest ? rest : (char *)"", error, sizeof error) != 0)
      snprintf(reply, size, "error %s", error);
    else
      show_settings(&devices[index], reply, size);
  } else if (strcmp(verb, "reset") == 0) {
    reset_device(&devices[index]);
    snprintf(reply, size, "ok");
  } else if (strcmp(verb, "show") == 0) {
    show_settings(&devices[index], reply, size);
  } else {
    snprintf(reply, size, "error unknown command '%s' (set, reset, show, stats)", verb);
  }
}

typedef struct {
  int fd;
  char buffer[LINE_MAX_BYTES];
  size_t used;
} client_t;

static client_t clients[MAX_CLIENTS];

static int listen_on(const char *path) {
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) die("socket path too long: %s", path);
  strcpy(address.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 8) != 0)
    die("control socket %s: %s", path, strerror(errno));
  return fd;
}

static void serve_client(client_t *client) {
  ssize_t got = read(client->fd, client->buffer + client->used, sizeof client->buffer - 1 - client->used);
  if (got <= 0) {
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    close(client->fd);
    client->fd = -1;
    return;
  }
  client->used += (size_t)got;
  client->buffer[client->used] = '\0';
  char *newline;
  while ((newline = strchr(client->buffer, '\n'))) {
    *newline = '\0';
    static char reply[8192];
    handle_command(client->buffer, reply, sizeof reply - 1);
    strcat(reply, "\n");
    // Replies are small and the peer waits for them: a short blocking write is fine.
    if (write(client->fd, reply, strlen(reply)) < 0) {
      close(client->fd);
      client->fd = -1;
      return;
    }
    size_t consumed = (size_t)(newline - client->buffer) + 1;
    memmove(client->buffer, newline + 1, client->used - consumed + 1);
    client->used -= consumed;
  }
  if (client->used >= sizeof client->buffer - 1) {
    close(client->fd);  // a line longer than any command: not a client of ours
    client->fd = -1;
  }
}

// --- run and ctl ------------------------------------------------------------------------------------

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("/dev/net/tun: %s", strerror(errno));
  struct ifreq request = {0};
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (strlen(name) >= IFNAMSIZ) die("device name too long: %s", name);
  strcpy(request.ifr_name, name);
  if (ioctl(fd, TUNSETIFF, &request) != 0) die("TUNSETIFF %s: %s", name, strerror(errno));
  return fd;
}

// A forwarder that waits for CPU lets the kernel drop at the TUN: ask for real-time priority,
// else the highest nice level granted. Returns what it got, for the log.
static const char *raise_priority(void) {
  struct sched_param param = {.sched_priority = 10};
  if (sched_setscheduler(0, SCHED_FIFO, &param) == 0) return "SCHED_FIFO 10";
  if (setpriority(PRIO_PROCESS, 0, -10) == 0) return "nice -10";
  return "default (no privilege to raise it)";
}

static volatile sig_atomic_t stopping;
static void on_signal(int signal_number) {
  (void)signal_number;
  stopping = 1;
}

static int run(const char *socket_path, uint64_t seed, char **names, int count) {
  if (count < 1 || count > MAX_DEVICES) die("give 1 to %d TUN device names", MAX_DEVICES);
  rng_seed(seed);
  for (int i = 0; i < count; i++) {
    snprintf(devices[i].name, IFNAMSIZ, "%s", names[i]);
    devices[i].fd = open_tun(names[i]);
    reset_device(&devices[i]);
  }
  device_count = count;
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
  int listener = listen_on(socket_path);
  // Timer slack would add up to 50 µs to every release.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  const char *priority = raise_priority();
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  fprintf(stderr, "impair: %d devices, priority %s, seed %" PRIu64 ", control %s\n", count, priority, seed,
          socket_path);
  static unsigned char packet[MAX_PACKET];
  struct pollfd fds[MAX_DEVICES + 1 + MAX_CLIENTS];
  while (!stopping) {
    uint64_t now = now_ns();
    release_due(now);
    int nfds = 0;
    for (int i = 0; i < device_count; i++) fds[nfds++] = (struct pollfd){.fd = devices[i].fd, .events = POLLIN};
    fds[nfds++] = (struct pollfd){.fd = listener, .events = POLLIN};
    int client_slot[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++) {
      if (clients[i].fd < 0) continue;
      client_slot[nfds - device_count - 1] = i;
      fds[nfds++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
    }
    struct timespec timeout, *timeout_pointer = NULL;
    if (heap_len > 0) {
      uint64_t wait = heap[0].release_ns > now ? heap[0].release_ns - now : 0;
      timeout.tv_sec = (time_t)(wait / 1000000000ULL);
      timeout.tv_nsec = (long)(wait % 1000000000ULL);
      timeout_pointer = &timeout;
    }
    int ready = ppoll(fds, (nfds_t)nfds, timeout_pointer, NULL);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("ppoll: %s", strerror(errno));
    }
    for (int i = 0; i < device_count; i++) {
      if (!(fds[i].revents & POLLIN)) continue;
      for (int n = 0; n < READ_BURST; n++) {
        ssize_t len = read(devices[i].fd, packet, sizeof packet);
        if (len <= 0) break;
        arrive(i, packet, (uint32_t)len, now_ns());
      }
    }
    if (fds[device_count].revents & POLLIN) {
      int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      int slot = -1;
      for (int i = 0; i < MAX_CLIENTS && fd >= 0; i++)
        if (clients[i].fd < 0) {
          slot = i;
          break;
        }
      if (slot >= 0) {
        clients[slot].fd = fd;
        clients[slot].used = 0;
      } else if (fd >= 0) {
        close(fd);
      }
    }
    for (int k = device_count + 1; k < nfds; k++)
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) serve_client(&clients[client_slot[k - device_count - 1]]);
  }
  unlink(socket_path);
  return 0;
}

static int ctl(const char *socket_path, int argc, char **argv) {
  char line[LINE_MAX_BYTES] = "";
  for (int i = 0; i < argc; i++) {
    if (strlen(line) + strlen(argv[i]) + 2 >= sizeof line) die("command too long");
    strcat(line, argv[i]);
    strcat(line, i + 1 < argc ? " " : "\n");
  }
  if (argc == 0) die("ctl needs a command (set, reset, show, stats)");
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof address.sun_path) die("socket path too long");
  strcpy(address.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
    die("cannot reach the element at %s: %s", socket_path, strerror(errno));
  if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) die("write: %s", strerror(errno));
  static char reply[8192];
  size_t used = 0;
  while (used < sizeof reply - 1) {
    ssize_t got = read(fd, reply + used, sizeof reply - 1 - used);
    if (got <= 0) break;
    used += (size_t)got;
    if (reply[used - 1] == '\n') break;
  }
  reply[used] = '\0';
  if (strncmp(reply, "ok", 2) == 0) {
    fputs(reply[2] == ' ' ? reply + 3 : reply + 2, stdout);
    return 0;
  }
  fprintf(stderr, "impair: %s", used ? reply : "no reply\n");
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--socket") != 0) {
    fprintf(stderr,
            "usage: impair run --socket PATH [--seed N] DEV...\n"
            "       impair ctl --socket PATH set DEV key=value... | reset DEV|all | show DEV | stats\n");
    return 2;
  }
  const char *socket_path = argv[3];
  if (strcmp(argv[1], "ctl") == 0) return ctl(socket_path, argc - 4, argv + 4);
  if (strcmp(argv[1], "run") != 0) die("unknown mode '%s' (run, ctl)", argv[1]);
  int first = 4;
  uint64_t seed = now_ns();
  if (argc > 5 && strcmp(argv[4], "--seed") == 0) {
    seed = strtoull(argv[5], NULL, 10);
    first = 6;
  }
  return run(socket_path, seed, argv + first, argc - first);
}
