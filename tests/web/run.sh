#!/usr/bin/env bash
# Browser tests of the upload page (web/): headless Debian chromium driven by playwright-core
# against real fileserver nodes that run.mjs starts on 127.0.0.1. Builds the binary unless
# FILESERVER_BIN names one. Ends with "N passed, N failed"; exit 0 all passed, 1 a failure,
# 77 (with "web tests: SKIPPED: <reason>") when the browser or node cannot run at all.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
chromium=${CHROMIUM_BIN:-/usr/bin/chromium}

skip() {
  echo "web tests: SKIPPED: $*"
  exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed (tools/install-deps.sh --web)"
[ -x "$chromium" ] || skip "no chromium at $chromium (tools/install-deps.sh --web)"
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || skip "npm ci of playwright-core failed"
fi
# tus-js-client, so run.mjs can check that web/index.html is what web/src/ builds
if [ ! -f "$repo/web/node_modules/tus-js-client/package.json" ]; then
  (cd "$repo/web" && npm ci --no-audit --no-fund --loglevel=error) ||
    echo "web tests: note: npm ci in web/ failed; the index.html freshness test will fail"
fi

bin=${FILESERVER_BIN:-}
if [ -z "$bin" ]; then
  bdir=${WEB_BUILD_DIR:-$repo/build-web}
  echo "== building fileserver in $bdir"
  if ! { cmake -S "$repo" -B "$bdir" >/dev/null && cmake --build "$bdir" --target fileserver -j"$(nproc 2>/dev/null || echo 2)" >/dev/null; }; then
    echo "web tests: building fileserver failed"
    echo "0 passed, 1 failed"
    exit 1
  fi
  bin=$bdir/src/fileserver
fi
export CHROMIUM_BIN=$chromium
exec node "$here/run.mjs" --bin "$bin" "$@"
