#!/usr/bin/env bash
# Installs the system packages Braid's integration tests and benchmarks need on Debian.
# Idempotent: when everything is present it only queries dpkg and exits (well under a second).
# Not root and something missing: lists what is missing and exits 0, so unit tests still run.
set -euo pipefail

# package:command pairs; a package counts as present if dpkg has it installed or its command exists.
required=(
  iproute2:ip
  nftables:nft
  iperf3:iperf3
  openssh-server:sshd
  openssh-client:ssh
  curl:curl
  chromium:chromium
  mptcpize:mptcpize
  iputils-ping:ping
  conntrack:conntrack
  wireguard-go:wireguard-go
  wireguard-tools:wg
)

packages=()
for pair in "${required[@]}"; do packages+=("${pair%%:*}"); done

# One dpkg-query call for all packages; unknown packages are simply absent from its output.
installed=" $(dpkg-query -W -f='${Package}=${db:Status-Status} ' "${packages[@]}" 2>/dev/null || true) "

has_command() {
  # sshd and friends live in sbin, which is not always on a non-root PATH.
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=()
for pair in "${required[@]}"; do
  package="${pair%%:*}"
  binary="${pair##*:}"
  if [[ "$installed" == *" ${package}=installed "* ]] || has_command "$binary"; then
    continue
  fi
  missing+=("$package")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-system: all ${#packages[@]} system packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: not root; missing packages: ${missing[*]} (run as root to install; unit tests work without them)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
echo "setup-system: installed ${#missing[@]} package(s): ${missing[*]}"
