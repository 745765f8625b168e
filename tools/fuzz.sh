#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and ASan+UBSan, then runs each for N seconds on a
# scratch copy of its committed corpus (the committed one is never touched). Exits non-zero
# if any target crashed; the crashing inputs are kept and their paths printed.
# Usage: tools/fuzz.sh [SECONDS=30] [TARGET...]
# Env: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS, FUZZ_ARGS (extra libFuzzer flags),
# FUZZ_CMAKE_ARGS (extra configure flags, e.g. -DWERROR=OFF).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
shift || true
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
case "$secs" in '' | *[!0-9]*) echo "fuzz: seconds must be a number: $secs" >&2; exit 2 ;; esac

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$root"/tests/fuzz/fuzz_*.c; do
    [ -e "$src" ] && targets+=("$(basename "$src" .c)")
  done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in tests/fuzz" >&2; exit 2; }

# shellcheck disable=SC2086 # FUZZ_CMAKE_ARGS is a list of flags
# fuzzer-no-link puts coverage instrumentation into the core library too; without it
# libFuzzer would only see the harness and fuzz blind.
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  -DENABLE_FUZZING=ON -DSANITIZE=address,undefined \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link ${FUZZ_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
crashed=()
for t in "${targets[@]}"; do
  corpus="$work/$t/corpus"
  mkdir -p "$corpus" "$work/$t/artifacts"
  if [ -d "$root/tests/fuzz/corpus/$t" ]; then
    cp -rp "$root/tests/fuzz/corpus/$t/." "$corpus/"
  fi
  echo "fuzz: $t for ${secs}s"
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of libFuzzer flags
  if "$build/tests/$t" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 \
      -artifact_prefix="$work/$t/artifacts/" ${FUZZ_ARGS:-} "$corpus" >"$work/$t/log" 2>&1; then
    echo "fuzz: $t: no crash ($(find "$corpus" -type f | wc -l) inputs in corpus)"
  else
    echo "fuzz: $t: CRASH, see $work/$t/log"
    grep -E 'ERROR: |SUMMARY: |check failed|runtime error' "$work/$t/log" | head -5 || true
    find "$work/$t/artifacts" -type f -printf 'fuzz:   input %p\n'
    crashed+=("$t")
  fi
done

if [ ${#crashed[@]} -gt 0 ]; then
  echo "fuzz: crashed: ${crashed[*]} (work dir kept: $work)"
  exit 1
fi
rm -rf "$work"
echo "fuzz: all targets ran ${secs}s without a crash"
