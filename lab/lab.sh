#!/usr/bin/env bash
# Braid's real-network lab: three Linux network namespaces (client, router, server) joined by
# two provider links on the client side (a, b) and two links on the server side (s1, s2), so
# both ends are multihomed. Documentation prefixes only; no interface ever joins the host's
# namespace, so lab traffic cannot leave it. See docs/lab.md.
#
# Usage: lab.sh [--prefix P] COMMAND [ARGS]
#   up [--nat] [--rate RATE] [--impair]
#                                 build the lab and print its addresses as KEY=VALUE lines;
#                                 --impair routes links a and b through the impairment element
#   down                          tear everything down (idempotent)
#   status                        show namespaces, addresses, rules; exit 1 when not up
#   env                           print the KEY=VALUE lines again
#   blackhole LINK c2s|s2c|both   silently drop traffic on LINK in that direction (router nft)
#   heal [LINK]                   remove blackholes (all, or LINK's only)
#   link LINK down|up             take both ends of LINK down / bring them up and restore routes
#   addr del|add LINK v4|v6 [ADDRESS]
#                                 remove/add the endpoint's address on LINK (default: the lab's)
#   nat-rebind                    give every NATed flow a new public port (needs up --nat)
#   rate LINK RATE|off            tbf rate limit on both ends of LINK (e.g. 20mbit)
#   impair LINK c2s|s2c|both reset|KEY=VALUE...
#                                 change link a's or b's impairment (needs up --impair); keys:
#                                 delay_ms jitter_ms reorder loss ge_p ge_r ge_loss_bad dup
#                                 rate_bps queue_ms queue_bytes mtu (see lab/impair.c)
#   impair-show LINK c2s|s2c      print one direction's settings
#   impair-stats                  the element's counters per device, as JSON
#   exec NS CMD...                run CMD in namespace NS (client|router|server)
# LINK is a or b (client side providers) or s1 or s2 (server side links).
# The prefix comes from --prefix, else BRAID_LAB_PREFIX, else "braid<pid>" (up only).
#
# Exit codes: 0 ok, 1 failure, 2 usage, 69 tools missing, 77 not root.
set -euo pipefail

readonly EXIT_USAGE=2
readonly EXIT_TOOLS_MISSING=69
readonly EXIT_NOT_ROOT=77

die() {
  echo "lab: $*" >&2
  exit 1
}
usage() {
  sed -n '7,31p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "$EXIT_USAGE"
}

prefix="${BRAID_LAB_PREFIX:-}"
if [ "${1:-}" = "--prefix" ]; then
  [ $# -ge 2 ] || usage
  prefix="$2"
  shift 2
fi
command="${1:-}"
[ -n "$command" ] || usage
shift

# --- preconditions ---------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
  echo "lab: needs root (network namespaces, veths and nftables); skipping" >&2
  exit "$EXIT_NOT_ROOT"
fi
missing=()
for tool in ip nft tc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "$command" = "nat-rebind" ] && ! command -v conntrack >/dev/null 2>&1; then missing+=(conntrack); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "lab: missing tools: ${missing[*]}; run scripts/setup-system.sh as root" >&2
  exit "$EXIT_TOOLS_MISSING"
fi

if [ -z "$prefix" ]; then
  [ "$command" = "up" ] || die "no lab prefix: set BRAID_LAB_PREFIX or pass --prefix (up printed it)"
  prefix="braid$$"
fi
# Namespace names are file names under /run/netns: keep the prefix short and plain.
[[ "$prefix" =~ ^[A-Za-z0-9_]{1,32}$ ]] || die "bad prefix '$prefix' (1-32 of [A-Za-z0-9_])"

readonly NS_CLIENT="${prefix}-client"
readonly NS_ROUTER="${prefix}-router"
readonly NS_SERVER="${prefix}-server"
readonly STATE_DIR="/run/braid-lab/${prefix}"

# --- the plan: every address, table and gateway per link ---------------------------------------
# Interface names equal the link name inside both namespaces a link joins (pa, pb, s1, s2).

link_dev() {
  case "$1" in
  a) echo pa ;; b) echo pb ;; s1) echo s1 ;; s2) echo s2 ;;
  *) die "unknown link '$1' (a, b, s1, s2)" ;;
  esac
}
# The multihomed endpoint on a link (the router is the other end of every link).
link_endpoint_ns() {
  case "$1" in a | b) echo "$NS_CLIENT" ;; s1 | s2) echo "$NS_SERVER" ;; esac
}
link_table() {
  case "$1" in a | s1) echo 101 ;; b | s2) echo 102 ;; esac
}
# Main-table default route metric: link a (s1) is preferred when the source is unbound.
link_metric() {
  case "$1" in a | s1) echo 100 ;; b | s2) echo 200 ;; esac
}
# family link -> endpoint address, router address, prefix length
link_addr() {
  case "$1:$2" in
  v4:a) echo "192.0.2.10 192.0.2.1 24" ;;
  v4:b) echo "198.51.100.10 198.51.100.1 24" ;;
  v4:s1) echo "203.0.113.10 203.0.113.1 25" ;;
  v4:s2) echo "203.0.113.138 203.0.113.129 25" ;;
  v6:a) echo "2001:db8:a::10 2001:db8:a::1 64" ;;
  v6:b) echo "2001:db8:b::10 2001:db8:b::1 64" ;;
  v6:s1) echo "2001:db8:5::10 2001:db8:5::1 64" ;;
  v6:s2) echo "2001:db8:6::10 2001:db8:6::1 64" ;;
  *) die "unknown family/link '$1' '$2'" ;;
  esac
}
family_flag() {
  case "$1" in v4) echo -4 ;; v6) echo -6 ;; *) die "unknown family '$1' (v4, v6)" ;; esac
}

is_up() { [ -e "/run/netns/$NS_ROUTER" ]; }
require_up() { is_up || die "lab '$prefix' is not up"; }
nat_enabled() { [ -f "$STATE_DIR/nat" ]; }
impair_enabled() { [ -S "$STATE_DIR/impair.sock" ]; }

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_DIR
readonly IMPAIR_SOURCE="$REPO_DIR/lab/impair.c"
readonly IMPAIR_BINARY="$REPO_DIR/build/impair"
# The element's TUN device per provider link and direction (router namespace).
impair_dev() {
  case "$1:$2" in
  a:c2s) echo ta_c2s ;; a:s2c) echo ta_s2c ;; b:c2s) echo tb_c2s ;; b:s2c) echo tb_s2c ;;
  *) die "no impairment on '$1' '$2' (links a, b; directions c2s, s2c)" ;;
  esac
}

# --- building blocks ---------------------------------------------------------------------------

new_namespace() {
  local ns="$1"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # Sysctls before any veth exists, so the defaults apply to the new interfaces too.
  ip netns exec "$ns" sh -c '
    for scope in all default; do
      sysctl -qw net.ipv6.conf.$scope.accept_dad=0
      sysctl -qw net.ipv6.conf.$scope.accept_ra=0
      sysctl -qw net.ipv6.conf.$scope.keep_addr_on_down=1
      sysctl -qw net.ipv4.conf.$scope.rp_filter=0
    done'
}

# (Re)install an endpoint's routes for one link: source-based table plus a main-table default.
# Called after up, link up and addr add, since the kernel drops routes with their device/address.
install_routes() {
  local link="$1" ns dev table metric family
  ns="$(link_endpoint_ns "$link")"
  dev="$(link_dev "$link")"
  table="$(link_table "$link")"
  metric="$(link_metric "$link")"
  for family in v4 v6; do
    local flag router
    flag="$(family_flag "$family")"
    read -r _ router _ < <(link_addr "$family" "$link")
    # A source on this link never leaks out of another link: unreachable beats a wrong provider.
    ip -n "$ns" "$flag" route replace unreachable default metric 4096 table "$table"
    ip -n "$ns" "$flag" route replace default via "$router" dev "$dev" table "$table" 2>/dev/null || true
    ip -n "$ns" "$flag" route replace default via "$router" dev "$dev" metric "$metric" 2>/dev/null || true
  done
}

add_endpoint_address() {
  local link="$1" family="$2" address="${3:-}" ns dev flag default_address plen
  ns="$(link_endpoint_ns "$link")"
  dev="$(link_dev "$link")"
  flag="$(family_flag "$family")"
  read -r default_address _ plen < <(link_addr "$family" "$link")
  address="${address:-$default_address}"
  if [ "$family" = v6 ]; then
    ip -n "$ns" -6 addr add "$address/$plen" dev "$dev" nodad
  else
    ip -n "$ns" -4 addr add "$address/$plen" dev "$dev"
  fi
  ip -n "$ns" "$flag" rule add from "$address" lookup "$(link_table "$link")" priority 1000
  install_routes "$link"
}

del_endpoint_address() {
  local link="$1" family="$2" address="${3:-}" ns dev flag default_address plen
  ns="$(link_endpoint_ns "$link")"
  dev="$(link_dev "$link")"
  flag="$(family_flag "$family")"
  read -r default_address _ plen < <(link_addr "$family" "$link")
  address="${address:-$default_address}"
  ip -n "$ns" "$flag" addr del "$address/$plen" dev "$dev"
  ip -n "$ns" "$flag" rule del from "$address" lookup "$(link_table "$link")" priority 1000 2>/dev/null || true
}

build_link() {
  local link="$1" ns dev router4 plen4 router6 plen6
  ns="$(link_endpoint_ns "$link")"
  dev="$(link_dev "$link")"
  # Both ends are created inside namespaces: no interface ever appears in the host namespace.
  ip -n "$ns" link add "$dev" type veth peer name "$dev" netns "$NS_ROUTER"
  read -r _ router4 plen4 < <(link_addr v4 "$link")
  read -r _ router6 plen6 < <(link_addr v6 "$link")
  ip -n "$NS_ROUTER" -4 addr add "$router4/$plen4" dev "$dev"
  ip -n "$NS_ROUTER" -6 addr add "$router6/$plen6" dev "$dev" nodad
  ip -n "$ns" link set "$dev" up
  ip -n "$NS_ROUTER" link set "$dev" up
  add_endpoint_address "$link" v4
  add_endpoint_address "$link" v6
}

# A fresh veth may not carry traffic at once (carrier, IPv6 neighbour discovery): a test's first
# datagrams could vanish. Ping each endpoint address's router until it answers (≤ 10 tries each),
# which also fills the neighbour caches.
wait_links_ready() {
  command -v ping >/dev/null 2>&1 || {
    sleep 1
    return 0
  }
  local link family ns address router tries
  for link in a b s1 s2; do
    ns="$(link_endpoint_ns "$link")"
    for family in v4 v6; do
      read -r address router _ < <(link_addr "$family" "$link")
      tries=0
      until ip netns exec "$ns" ping "$(family_flag "$family")" -c 1 -W 1 -I "$address" "$router" >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 10 ] || die "link $link ($family) carries no traffic: $address cannot reach $router"
      done
    done
  done
}

# The router's nftables: a forward chain for blackholes, and NAT chains when asked for.
write_nat_rules() {
  local generation low high
  generation="$(cat "$STATE_DIR/nat")"
  # Alternate port ranges per generation, so a rebind always yields a different public port.
  low=$((20000 + (generation % 2) * 10000))
  high=$((low + 9999))
  ip netns exec "$NS_ROUTER" nft -f - <<EOF
flush chain inet braidlab postrouting
table inet braidlab {
  chain postrouting {
    ip saddr 192.0.2.0/24 oifname { "s1", "s2", "ta_c2s" } meta l4proto { tcp, udp } snat ip to 192.0.2.1:$low-$high
    ip saddr 198.51.100.0/24 oifname { "s1", "s2", "tb_c2s" } meta l4proto { tcp, udp } snat ip to 198.51.100.1:$low-$high
    ip6 saddr 2001:db8:a::/64 oifname { "s1", "s2", "ta_c2s" } meta l4proto { tcp, udp } snat ip6 to [2001:db8:a::1]:$low-$high
    ip6 saddr 2001:db8:b::/64 oifname { "s1", "s2", "tb_c2s" } meta l4proto { tcp, udp } snat ip6 to [2001:db8:b::1]:$low-$high
    ip saddr 192.0.2.0/24 oifname { "s1", "s2", "ta_c2s" } snat ip to 192.0.2.1
    ip saddr 198.51.100.0/24 oifname { "s1", "s2", "tb_c2s" } snat ip to 198.51.100.1
    ip6 saddr 2001:db8:a::/64 oifname { "s1", "s2", "ta_c2s" } snat ip6 to 2001:db8:a::1
    ip6 saddr 2001:db8:b::/64 oifname { "s1", "s2", "tb_c2s" } snat ip6 to 2001:db8:b::1
  }
}
EOF
}

setup_router_nft() {
  local nat="$1"
  ip netns exec "$NS_ROUTER" nft -f - <<'EOF'
table inet braidlab {
  chain forward {
    type filter hook forward priority filter; policy accept;
  }
}
EOF
  if [ "$nat" = 1 ]; then
    ip netns exec "$NS_ROUTER" nft -f - <<'EOF'
table inet braidlab {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
  }
}
EOF
    echo 0 >"$STATE_DIR/nat"
    write_nat_rules
  fi
}

set_rate() {
  local link="$1" rate="$2" dev ns
  dev="$(link_dev "$link")"
  for ns in "$(link_endpoint_ns "$link")" "$NS_ROUTER"; do
    if [ "$rate" = off ]; then
      ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
    else
      # burst must hold at least one timer tick of traffic; 64 KiB covers rates up to ~500 Mbit/s.
      ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" burst 64kb latency 50ms
    fi
  done
}

# build/impair, compiled from lab/impair.c when missing or older than its source (the native
# build step makes it too; node-gyp's rebuild empties build/).
ensure_impair_binary() {
  if [ -x "$IMPAIR_BINARY" ] && [ "$IMPAIR_BINARY" -nt "$IMPAIR_SOURCE" ]; then return 0; fi
  command -v cc >/dev/null 2>&1 || die "build/impair is missing and there is no C compiler (run npm run build:native)"
  mkdir -p "$(dirname "$IMPAIR_BINARY")"
  cc -O2 -Wall -Wextra -std=gnu11 -o "$IMPAIR_BINARY.$$" "$IMPAIR_SOURCE" && mv "$IMPAIR_BINARY.$$" "$IMPAIR_BINARY"
}

# The impairment element: one TUN per provider link and direction in the router, the forwarder
# (build/impair) attached to all four, and policy routing by ingress interface that sends each
# link's traffic through its TUN before the main table forwards it on. Packets the element
# writes back arrive with the TUN as ingress interface and are not tracked a second time, so
# NAT and the blackhole rules still see each flow once.
setup_impairment() {
  local link dev router_dev client_net4 client_net6 table server_dev
  ensure_impair_binary
  for link in a b; do
    for dev in "$(impair_dev "$link" c2s)" "$(impair_dev "$link" s2c)"; do
      ip -n "$NS_ROUTER" tuntap add dev "$dev" mode tun
      # A long queue: the element drops by its own rules, the kernel should not while it waits.
      ip -n "$NS_ROUTER" link set "$dev" mtu 1500 txqueuelen 10000 up
    done
  done
  # SCHED_FIFO (else nice -10) is set by the element itself; its output goes to a log.
  ip netns exec "$NS_ROUTER" "$IMPAIR_BINARY" run --socket "$STATE_DIR/impair.sock" \
    ta_c2s ta_s2c tb_c2s tb_s2c >"$STATE_DIR/impair.log" 2>&1 &
  local tries=0
  until impair_enabled; do
    tries=$((tries + 1))
    [ "$tries" -lt 100 ] || die "the impairment element did not start: $(cat "$STATE_DIR/impair.log")"
    sleep 0.02
  done
  for link in a b; do
    router_dev="$(link_dev "$link")"
    read -r client_net4 _ _ < <(link_addr v4 "$link")
    read -r client_net6 _ _ < <(link_addr v6 "$link")
    client_net4="${client_net4%.*}.0/24"
    client_net6="${client_net6%::*}::/64"
    # c2s: everything entering from the provider link (the router's own addresses match the
    # local table first).
    table=$(($(link_table "$link") + 100))
    ip -n "$NS_ROUTER" -4 route add default dev "$(impair_dev "$link" c2s)" table "$table"
    ip -n "$NS_ROUTER" -6 route add default dev "$(impair_dev "$link" c2s)" table "$table"
    ip -n "$NS_ROUTER" -4 rule add iif "$router_dev" lookup "$table" priority 100
    ip -n "$NS_ROUTER" -6 rule add iif "$router_dev" lookup "$table" priority 100
    # s2c: what the server side sends towards this provider's client addresses.
    table=$((table + 10))
    ip -n "$NS_ROUTER" -4 route add default dev "$(impair_dev "$link" s2c)" table "$table"
    ip -n "$NS_ROUTER" -6 route add default dev "$(impair_dev "$link" s2c)" table "$table"
    for server_dev in s1 s2; do
      ip -n "$NS_ROUTER" -4 rule add iif "$server_dev" to "$client_net4" lookup "$table" priority 100
      ip -n "$NS_ROUTER" -6 rule add iif "$server_dev" to "$client_net6" lookup "$table" priority 100
    done
  done
  ip netns exec "$NS_ROUTER" nft -f - <<'EOF'
table inet braidlab {
  chain impaired {
    type filter hook prerouting priority raw; policy accept;
    iifname { "ta_c2s", "ta_s2c", "tb_c2s", "tb_s2c" } notrack
  }
}
EOF
}

impair_ctl() {
  "$IMPAIR_BINARY" ctl --socket "$STATE_DIR/impair.sock" "$@"
}

print_env() {
  local link family key address public
  echo "BRAID_LAB_PREFIX=$prefix"
  echo "BRAID_LAB_NS_CLIENT=$NS_CLIENT"
  echo "BRAID_LAB_NS_ROUTER=$NS_ROUTER"
  echo "BRAID_LAB_NS_SERVER=$NS_SERVER"
  echo "BRAID_LAB_NAT=$(nat_enabled && echo 1 || echo 0)"
  echo "BRAID_LAB_IMPAIR=$(impair_enabled && echo 1 || echo 0)"
  for link in a b s1 s2; do
    for family in v4 v6; do
      key="$(echo "${link}_${family}" | tr '[:lower:]' '[:upper:]')"
      read -r address public _ < <(link_addr "$family" "$link")
      echo "BRAID_LAB_${key}=$address"
      echo "BRAID_LAB_${key}_ROUTER=$public"
    done
  done
}

# Kill what still runs inside our namespaces (a process there keeps the namespace alive).
kill_namespace_processes() {
  local ns pids signal
  for signal in TERM KILL; do
    pids=""
    for ns in "$NS_CLIENT" "$NS_SERVER" "$NS_ROUTER"; do
      [ -e "/run/netns/$ns" ] && pids="$pids $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    done
    [ -n "${pids// /}" ] || return 0
    # shellcheck disable=SC2086
    kill "-$signal" $pids 2>/dev/null || true
    [ "$signal" = TERM ] && sleep 0.2
  done
}

teardown() {
  local ns
  kill_namespace_processes
  # Deleting a namespace destroys its veths (and their peers), nft tables and conntrack entries.
  for ns in "$NS_CLIENT" "$NS_SERVER" "$NS_ROUTER"; do
    [ -e "/run/netns/$ns" ] && ip netns del "$ns"
  done
  rm -rf "$STATE_DIR"
}

# --- commands ------------------------------------------------------------------------------------

cmd_up() {
  local nat=0 rate="" impair=0
  while [ $# -gt 0 ]; do
    case "$1" in
    --nat) nat=1 ;;
    --impair) impair=1 ;;
    --rate)
      [ $# -ge 2 ] || usage
      rate="$2"
      shift
      ;;
    *) usage ;;
    esac
    shift
  done
  for ns in "$NS_CLIENT" "$NS_SERVER" "$NS_ROUTER"; do
    [ -e "/run/netns/$ns" ] && die "namespace $ns already exists; run: lab.sh --prefix $prefix down"
  done
  # Any failure while building leaves nothing behind.
  trap 'teardown' EXIT
  mkdir -p "$STATE_DIR"
  new_namespace "$NS_CLIENT"
  new_namespace "$NS_SERVER"
  new_namespace "$NS_ROUTER"
  ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  for link in a b s1 s2; do build_link "$link"; done
  setup_router_nft "$nat"
  [ "$impair" = 0 ] || setup_impairment
  wait_links_ready
  if [ -n "$rate" ]; then
    set_rate a "$rate"
    set_rate b "$rate"
  fi
  trap - EXIT
  print_env
}

cmd_status() {
  if ! is_up; then
    echo "lab '$prefix' is not up"
    return 1
  fi
  local ns
  for ns in "$NS_CLIENT" "$NS_ROUTER" "$NS_SERVER"; do
    echo "== $ns"
    ip -n "$ns" -brief addr show | grep -v '^lo '
    [ "$ns" = "$NS_ROUTER" ] || ip -n "$ns" rule show | grep -v -e 'lookup local' -e 'lookup main' -e 'lookup default' || true
  done
  echo "== $NS_ROUTER nftables"
  ip netns exec "$NS_ROUTER" nft list table inet braidlab
}

cmd_blackhole() {
  [ $# -eq 2 ] || usage
  local link="$1" direction="$2" dev match_c2s match_s2c dir
  require_up
  dev="$(link_dev "$link")"
  # Seen from the router: client-side links carry c2s inbound, server-side links outbound.
  case "$link" in
  a | b) match_c2s="iifname \"$dev\"" match_s2c="oifname \"$dev\"" ;;
  s1 | s2) match_c2s="oifname \"$dev\"" match_s2c="iifname \"$dev\"" ;;
  esac
  case "$direction" in
  c2s | s2c) ;;
  both) ;;
  *) die "unknown direction '$direction' (c2s, s2c, both)" ;;
  esac
  for dir in c2s s2c; do
    [ "$direction" = both ] || [ "$direction" = "$dir" ] || continue
    local match="match_$dir"
    # Plain drop: silent, no ICMP, like a broken provider.
    ip netns exec "$NS_ROUTER" nft add rule inet braidlab forward "${!match}" drop comment "\"bh:$link:$dir\""
  done
}

cmd_heal() {
  local link="${1:-}"
  require_up
  if [ -z "$link" ]; then
    ip netns exec "$NS_ROUTER" nft flush chain inet braidlab forward
    return 0
  fi
  link_dev "$link" >/dev/null
  local handle
  for handle in $(ip netns exec "$NS_ROUTER" nft -a list chain inet braidlab forward |
    sed -n "s/.*comment \"bh:$link:[a-z0-9]*\" # handle \([0-9]*\).*/\1/p"); do
    ip netns exec "$NS_ROUTER" nft delete rule inet braidlab forward handle "$handle"
  done
}

cmd_link() {
  [ $# -eq 2 ] || usage
  local link="$1" state="$2" dev
  require_up
  dev="$(link_dev "$link")"
  case "$state" in
  down)
    ip -n "$(link_endpoint_ns "$link")" link set "$dev" down
    ip -n "$NS_ROUTER" link set "$dev" down
    ;;
  up)
    ip -n "$NS_ROUTER" link set "$dev" up
    ip -n "$(link_endpoint_ns "$link")" link set "$dev" up
    install_routes "$link"
    ;;
  *) usage ;;
  esac
}

cmd_addr() {
  [ $# -ge 3 ] && [ $# -le 4 ] || usage
  local action="$1" link="$2" family="$3" address="${4:-}"
  require_up
  link_dev "$link" >/dev/null
  family_flag "$family" >/dev/null
  case "$action" in
  del) del_endpoint_address "$link" "$family" "$address" ;;
  add) add_endpoint_address "$link" "$family" "$address" ;;
  *) usage ;;
  esac
}

cmd_nat_rebind() {
  require_up
  nat_enabled || die "lab '$prefix' runs without NAT (up --nat)"
  echo $(($(cat "$STATE_DIR/nat") + 1)) >"$STATE_DIR/nat"
  write_nat_rules
  # Forget existing mappings, so the next packet of every flow gets a port from the new range.
  ip netns exec "$NS_ROUTER" conntrack -F >/dev/null 2>&1 || true
}

cmd_rate() {
  [ $# -eq 2 ] || usage
  require_up
  link_dev "$1" >/dev/null
  set_rate "$1" "$2"
}

cmd_impair() {
  [ $# -ge 3 ] || usage
  local link="$1" direction="$2" dir
  shift 2
  require_up
  impair_enabled || die "lab '$prefix' runs without the impairment element (up --impair)"
  case "$direction" in c2s | s2c | both) ;; *) die "unknown direction '$direction' (c2s, s2c, both)" ;; esac
  for dir in c2s s2c; do
    [ "$direction" = both ] || [ "$direction" = "$dir" ] || continue
    if [ "$1" = reset ]; then
      impair_ctl reset "$(impair_dev "$link" "$dir")" >/dev/null
    else
      impair_ctl set "$(impair_dev "$link" "$dir")" "$@" >/dev/null
    fi
  done
}

cmd_exec() {
  [ $# -ge 2 ] || usage
  local ns="$1"
  shift
  require_up
  case "$ns" in
  client) ns="$NS_CLIENT" ;; router) ns="$NS_ROUTER" ;; server) ns="$NS_SERVER" ;;
  *) die "unknown namespace '$ns' (client, router, server)" ;;
  esac
  exec ip netns exec "$ns" "$@"
}

case "$command" in
up) cmd_up "$@" ;;
down) teardown ;;
status) cmd_status ;;
env)
  require_up
  print_env
  ;;
blackhole) cmd_blackhole "$@" ;;
heal) cmd_heal "$@" ;;
link) cmd_link "$@" ;;
addr) cmd_addr "$@" ;;
nat-rebind) cmd_nat_rebind ;;
rate) cmd_rate "$@" ;;
impair) cmd_impair "$@" ;;
impair-show)
  [ $# -eq 2 ] || usage
  require_up
  impair_enabled || die "lab '$prefix' runs without the impairment element (up --impair)"
  impair_ctl show "$(impair_dev "$1" "$2")"
  ;;
impair-stats)
  require_up
  impair_enabled || die "lab '$prefix' runs without the impairment element (up --impair)"
  impair_ctl stats
  ;;
exec) cmd_exec "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
