#!/usr/bin/env bash
# Installs what building and testing need, builds the two variants and runs the whole suite
# through CTest:
#   build/san   clang Debug + ASan/UBSan: the unit tests and the libFuzzer targets;
#   build/test  g++ Release (-O2, no debug info: CI's time budget): the binary, benchmarks'
#               tools, integration and end-to-end tests. It does not compile the unit tests:
#               its CTest runs build/san's case by case (asan.*) and the fuzz smoke runs
#               (fuzz.*), so there is one summary and each unit test is built and run once.
# Both build with -Werror (RDV_WERROR). scripts/start.sh builds build/release, so running one
# script after the other never rebuilds the other's tree.
# Extra arguments go to ctest, e.g. -L unit or -R kamailio.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)
cmake -S . -B build/san -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRDV_WERROR=ON \
  -DCMAKE_CXX_COMPILER=clang++-14 -DRDV_SANITIZE=ON -DRDV_FUZZ=ON -DRDV_BUILD_APP=OFF >/dev/null
cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DRDV_WERROR=ON -DRDV_SAN_BUILD_DIR="$PWD/build/san" >/dev/null
cmake --build build/san -j "$jobs"
cmake --build build/test -j "$jobs"
# Integration tests start servers on fixed-per-test port ranges: two at a time is safe.
exec ctest --test-dir build/test --output-on-failure -j 2 --timeout 300 "$@"
