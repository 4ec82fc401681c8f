#!/usr/bin/env bash
# Installs the Debian bookworm packages that building, running and testing Rendezvous need.
# Idempotent: packages already present are skipped, and apt is not touched when nothing is missing
# (apart from fetching libsrtp2's source once, see fetch_srtp_source).
# Usage: scripts/install-deps.sh [build|test]   (default: test, which is a superset of build)
set -euo pipefail

mode=${1:-test}

build_pkgs=(
  build-essential cmake ninja-build pkg-config
  libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libconcurrentqueue-dev libjemalloc-dev prometheus-cpp-dev libssl-dev
  libcpp-httplib-dev libsqlite3-dev zlib1g-dev libxml2-dev
  libbpf-dev bpftool linux-libc-dev clang-14
  libopus-dev libspandsp-dev libspeexdsp-dev libreaderwriterqueue-dev
  liburing-dev  # relay/UringSender: a relay worker's sends in one io_uring submission
  libsrtp2-dev  # media/srtp: SRTP contexts (rdv_srtp); the fallback when its source is absent
  dpkg-dev  # apt-get source libsrtp2 (below): media/srtp builds libsrtp on OpenSSL
)
test_pkgs=(
  "${build_pkgs[@]}"
  libclang-rt-14-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3 openssl curl iproute2 iptables procps
  sip-tester kamailio kamailio-extra-modules kamailio-presence-modules rtpengine-daemon
  baresip-core linphone-cli prometheus chromium coturn
  socat  # benchmarks/tcp_bench.py: the TCP relay beside socat
  python3-aiortc  # tests/integration/webrtc_aiortc_test.py: a real WebRTC peer (ICE, DTLS-SRTP)
)

case "$mode" in
  build) want=("${build_pkgs[@]}") ;;
  test) want=("${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# libsrtp2's Debian source, for media/srtp/CMakeLists.txt to build on OpenSSL (Debian's binary
# libsrtp2 is built on NSS, which allocates and locks per packet: benchmarks/README.md). Fetched
# once into build/deps/libsrtp2 (a link to the unpacked libsrtp2-<version>); a deb-src twin of
# debian.sources makes `apt-get source` work. Without it CMake links the system libsrtp2.
fetch_srtp_source() {
  local deps list=/etc/apt/sources.list.d/debian-src.sources out
  deps="$(cd "$(dirname "$0")/.." && pwd)/build/deps"
  [ -e "$deps/libsrtp2/CMakeLists.txt" ] && return 0
  local want_list
  want_list=$(sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources)
  if [ "$(cat "$list" 2>/dev/null)" != "$want_list" ]; then
    printf '%s\n' "$want_list" | $SUDO tee "$list" >/dev/null
    $SUDO apt-get update -qq
  fi
  mkdir -p "$deps"
  # Unpacks libsrtp2-<version>/ with Debian's patches applied; --download-only would skip them.
  if ! out=$(cd "$deps" && rm -rf libsrtp2 libsrtp2_* libsrtp2-*/ && apt-get source libsrtp2 2>&1); then
    printf '%s\n' "$out" >&2
    echo "install-deps: apt-get source libsrtp2 failed; media/srtp falls back to the system libsrtp2" >&2
    return 0
  fi
  local dir
  dir=$(cd "$deps" && ls -d libsrtp2-*/ | head -n1)
  ln -sfn "${dir%/}" "$deps/libsrtp2"
  echo "install-deps: libsrtp2 source in $deps/${dir%/}"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  fetch_srtp_source
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
# Daemons from these packages (kamailio, rtpengine) must not start as system services: the tests
# start their own instances on loopback. policy-rc.d makes invoke-rc.d skip them during install
# (linphone-cli and its dependencies ship no service; the guard covers them all the same).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ "$created_policy" -eq 0 ] || $SUDO rm -f "$policy"
fetch_srtp_source
