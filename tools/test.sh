#!/usr/bin/env bash
# The one test command (README, CI): installs what is missing, builds with warnings as
# errors, runs every test (unit, fuzz-corpus replay, black-box), then does it all again
# under AddressSanitizer + UBSan. Ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh --test
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWERROR=ON >/dev/null
cmake --build build -j"$jobs"
./tools/check.sh

echo "== build with AddressSanitizer + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWERROR=ON -DSANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests under sanitizers"
ctest --test-dir build-asan --output-on-failure -j"$jobs" -E blackbox
FILESERVER_SANITIZED=1 ctest --test-dir build-asan --output-on-failure -R blackbox
./tests/docker/run.sh || [ $? -eq 77 ] # the image (docs/DOCKER.md); 77: cannot run containers here
(./tools/install-deps.sh --web || true; FILESERVER_BIN=build/src/fileserver ./tests/web/run.sh) || [ $? -eq 77 ] # the upload page in headless chromium (tests/web); 77: no browser
echo "== tests (release build)"
ctest --test-dir build --output-on-failure
