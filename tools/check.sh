#!/usr/bin/env bash
# Static rules the compiler does not check: banned functions, each third-party header
# included by exactly one file, and no header of ours including a third-party one.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
if grep -nE '\b(atoi|sscanf|strtok|strcpy|strcat|sprintf|gets)\s*\(' src/*.c include/*.h | grep -v '^\s*//'; then
  echo "check: banned function used (see above)"; fail=1
fi
owner() { # header, the one file allowed to include it
  local hits
  hits=$(grep -lE "#include <$1" src/*.c include/*.h || true)
  if [ -n "$hits" ] && [ "$hits" != "$2" ]; then
    echo "check: <$1> included outside $2: $hits"; fail=1
  fi
}
owner microhttpd.h src/http_server.c
owner leveldb/ src/meta.c
owner curl/ src/peer.c
owner gnutls/ src/tlslib.c
owner openssl/ src/digest.c
owner turbojpeg.h src/image.c
owner stb_ src/image.c
if grep -nE '#include <(jansson|microhttpd|leveldb|curl|gnutls|openssl)' include/*.h; then
  echo "check: a public header includes a third-party header"; fail=1
fi
bin=${1:-build/src/fileserver}
if [ -x "$bin" ] && ! "$bin" --config-keys | diff -u docs/CONFIG.md - >/dev/null; then
  echo "check: docs/CONFIG.md is stale: regenerate it with: $bin --config-keys > docs/CONFIG.md"
  fail=1
fi
[ "$fail" = 0 ] && echo "check: ok"
exit "$fail"
