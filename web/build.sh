#!/usr/bin/env bash
# Rebuilds web/index.html from web/src/ (see build.mjs); installs tus-js-client from the
# lockfile first when it is missing. --check only verifies that index.html is current.
set -euo pipefail
cd "$(dirname "$0")"
[ -f node_modules/tus-js-client/dist/tus.min.js ] || npm ci --no-audit --no-fund --loglevel=error
exec node build.mjs "$@"
