#!/usr/bin/env bash
# Installs what the build needs, builds Rendezvous (Release) and starts it on its embedded
# default configuration. Extra arguments go to rendezvous, e.g. --set log.level=debug.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target rendezvous
exec build/release/bin/rendezvous "$@"
