#!/usr/bin/env bash
# Builds docker/Dockerfile with podman and checks the image for real: the node starts with no
# config, answers /healthz, stores an upload byte for byte, keeps it across a restart and in
# a new container on the same volume, runs as non-root and stops cleanly on SIGTERM. No registry is contacted: the two
# FROM images are a debootstrapped Debian root (built from the mirror apt already uses,
# cached between runs) imported under their Docker Hub names into a private podman store.
# Exit 0: everything checked; 1: a check failed; 77: this machine cannot run containers.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUITE=bookworm
IMAGE=fileserver-test
CACHE="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/fileserver-rootfs"
T0=$(date +%s)

say() { echo "docker test: $*"; }
skip() {
    say "SKIPPED: $*"
    exit 77
}
fail() {
    say "FAILED: $*"
    if [ -n "${WORK:-}" ] && pm container exists "$CTR" 2>/dev/null; then
        echo "--- container log (last 40 lines)"
        pm logs "$CTR" 2>&1 | tail -n 40 || true
    fi
    say "0 passed, 1 failed"
    exit 1
}

# ---- prerequisites: root, the packages, a mirror --------------------------------------
echo "== docker image (tests/docker/run.sh)"
[ "$(uname -s)" = Linux ] || skip "not Linux"
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, rootful podman)"
if ! deps_log=$(./tools/install-deps.sh --docker 2>&1); then
    echo "$deps_log" | tail -n 5
    skip "cannot install podman runc debootstrap (tools/install-deps.sh --docker)"
fi
for tool in podman runc debootstrap curl tar timeout cmp; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
done

# The first http(s) URI apt uses for the plain suite, from one-line or deb822 sources.
mirror_url() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite && $i ~ /^https?:\/\//) { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                deb = 0; has = 0; off = 0; uris = ""
                for (l = 1; l <= NF; l++) {
                    line = $l
                    if (line ~ /^[ \t]*#/) continue
                    split(line, kv, ":")
                    key = tolower(kv[1]); val = substr(line, length(kv[1]) + 2)
                    if (key == "types" && val ~ /(^|[ \t])deb([ \t]|$)/) deb = 1
                    if (key == "suites") {
                        n = split(val, s, /[ \t]+/)
                        for (j = 1; j <= n; j++) if (s[j] == suite) has = 1
                    }
                    if (key == "enabled" && val ~ /no/) off = 1
                    if (key == "uris") uris = val
                }
                if (deb && has && !off) {
                    n = split(uris, u, /[ \t]+/)
                    for (j = 1; j <= n; j++) if (u[j] ~ /^https?:\/\//) { print u[j]; exit }
                }
            }' "$f"
    done
}
MIRROR=$(mirror_url | head -n 1)
[ -n "$MIRROR" ] || skip "no http(s) mirror for '$SUITE' in /etc/apt/sources.list{,.d}"

# ---- a private podman: its own store, runc, limits below the host's --------------------
WORK=$(mktemp -d /var/tmp/fileserver-docker.XXXXXX) # ~1.5 GB of layers: not /tmp
CTR="fileserver-test-$$"
VOL="fileserver-test-data-$$"
# Every podman call is bounded: pmt SECONDS ARGS..., and pm is pmt with 60 s.
pmt() {
    local secs=$1
    shift
    timeout "$secs" podman --root "$WORK/storage" --runroot "$WORK/run" "$@"
}
pm() { pmt 60 "$@"; }
cleanup() {
    set +e
    pm rm -f -t 5 "$CTR" >/dev/null 2>&1
    pm volume rm -f "$VOL" >/dev/null 2>&1
    pm rmi -a -f >/dev/null 2>&1
    # the overlay driver may leave its home mounted; rm -rf would then stop at EBUSY
    findmnt -rn -o TARGET | grep "^$WORK/" | sort -r | xargs -r -n 1 umount -l 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

below() { # a soft:hard pair under the host's hard limit, which podman may not exceed
    local h=$1
    if [ "$h" = unlimited ] || [ "$h" -gt 4096 ]; then echo 4096; else echo $((h - 1)); fi
}
NOFILE=$(below "$(ulimit -Hn)")
NPROC=$(below "$(ulimit -Hu)")
mkdir -p "$WORK/tmp"
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$WORK/tmp"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

# ---- the base images: debootstrap once, import under the names the Dockerfile uses ------
# A root older than 30 days is rebuilt, so it does not drift too far behind the mirror.
if [ ! -f "$CACHE/.complete" ] || [ -n "$(find "$CACHE/.complete" -mtime +30)" ]; then
    say "debootstrap $SUITE from $MIRROR into $CACHE"
    part="$CACHE.partial.$$"
    rm -rf "$part"
    mkdir -p "$(dirname "$CACHE")"
    if ! timeout 300 debootstrap --variant=minbase "$SUITE" "$part" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1; then
        tail -n 5 "$WORK/debootstrap.log"
        rm -rf "$part"
        skip "debootstrap from $MIRROR failed"
    fi
    touch "$part/.complete"
    rm -rf "$CACHE"
    mv "$part" "$CACHE"
fi
# Like Docker Hub's images: no apt lists or caches, so the Dockerfile's apt-get update counts.
tar -C "$CACHE" --exclude=./.complete --exclude='./var/lib/apt/lists/*' \
    --exclude='./var/cache/apt/*' -c . |
    pmt 120 import - "docker.io/library/debian:$SUITE" >"$WORK/import.log" 2>&1 ||
    {
        cat "$WORK/import.log"
        fail "podman import of $CACHE"
    }
pm tag "docker.io/library/debian:$SUITE" "docker.io/library/debian:$SUITE-slim" ||
    fail "podman tag"

# Can this machine run a container and publish a port at all? If not, it is the
# environment (user namespaces, cgroups, rlimits, networking), not the image.
# Ports below the kernel's ephemeral range: a port no one listens on may still be held by
# an outgoing or TIME_WAIT socket of an earlier test, and podman's bind then fails.
free_port() {
    local p i lo=32768 span
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    span=$((lo > 12000 ? lo - 10000 : 20000))
    for i in $(seq 1 50); do
        p=$((10000 + (RANDOM * 7 + $$ + i) % span))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}
for try in 1 2 3; do
    PORT=$(free_port) || skip "no free loopback port"
    if pmt 60 run --rm --pull=never -p "127.0.0.1:$PORT:8080" \
        "docker.io/library/debian:$SUITE" true >"$WORK/probe.log" 2>&1; then
        break
    fi
    # a port taken meanwhile is a race of this script, not the environment: pick another
    grep -q "address already in use" "$WORK/probe.log" && [ "$try" -lt 3 ] && continue
    skip "podman run of the base image fails: $(grep -v '^time=' "$WORK/probe.log" | tail -n 1)"
done

# ---- build (no pull: FROM must resolve to the local images) ----------------------------
say "podman build -f docker/Dockerfile"
t=$(date +%s)
pmt 480 build --pull=never --format docker -f docker/Dockerfile -t "$IMAGE" . \
    >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log"
    fail "podman build"
}
say "built in $(($(date +%s) - t)) s; $(grep -m 1 '^runtime packages:' "$WORK/build.log" || true)"

# ---- run with no config, as the README's one-liner ------------------------------------
pm volume create "$VOL" >/dev/null || fail "podman volume create"
pmt 60 run -d --name "$CTR" --pull=never -p "127.0.0.1:$PORT:8080" -v "$VOL:/data" \
    "$IMAGE" >"$WORK/run.log" 2>&1 || {
    cat "$WORK/run.log"
    fail "podman run of the image"
}
BASE="http://127.0.0.1:$PORT"

wait_healthy() {
    local i
    for i in $(seq 1 60); do
        curl -fsS --max-time 2 -o /dev/null "$BASE/healthz" 2>/dev/null && return 0
        [ "$(pm inspect -f '{{.State.Running}}' "$CTR" 2>/dev/null)" = true ] || return 1
        sleep 0.5
    done
    return 1
}
wait_healthy || fail "/healthz did not answer within 30 s"
pmt 30 exec "$CTR" test -s /data/conf/cfg.json || fail "no /data/conf/cfg.json generated"
pmt 30 healthcheck run "$CTR" >/dev/null 2>&1 || fail "the image's HEALTHCHECK fails"

uid=$(pmt 30 exec "$CTR" id -u) || fail "podman exec id -u"
[ "$uid" != 0 ] || fail "podman exec runs as root"
puid=$(pmt 30 exec "$CTR" grep '^Uid:' /proc/1/status | awk '{print $2}') ||
    fail "reading the server's uid"
case "$puid" in '' | 0) fail "the server runs as uid '$puid'" ;; esac

# ---- upload, download byte for byte ---------------------------------------------------
head -c 300000 /dev/urandom >"$WORK/blob.bin"
printf 'end' >>"$WORK/blob.bin"
curl -fsS --max-time 60 -F "file=@$WORK/blob.bin" -F output=json "$BASE/group1/upload" \
    >"$WORK/upload.json" || fail "upload"
path=$(sed -n 's/.*"path": *"\([^"]*\)".*/\1/p' "$WORK/upload.json" | head -n 1)
[ -n "$path" ] || {
    cat "$WORK/upload.json"
    fail "no path in the upload answer"
}
download() {
    rm -f "$WORK/got.bin"
    curl -fsS --max-time 60 -o "$WORK/got.bin" "$BASE$path" && cmp -s "$WORK/blob.bin" "$WORK/got.bin"
}
download || fail "download of $path differs from the upload"

# ---- SIGTERM stops it with 0; the file outlives the container's restart -----------------
pmt 60 stop -t 30 "$CTR" >/dev/null 2>&1 || fail "podman stop"
code=$(pm inspect -f '{{.State.ExitCode}}' "$CTR") || fail "podman inspect"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
pmt 60 start "$CTR" >/dev/null 2>&1 || fail "podman start"
wait_healthy || fail "/healthz did not answer within 30 s after the restart"
download || fail "the file is gone or differs after the restart"
# A new container on the same volume: the data lives in /data, not in the container.
pm rm -f -t 30 "$CTR" >/dev/null 2>&1 || fail "podman rm"
pmt 60 run -d --name "$CTR" --pull=never -p "127.0.0.1:$PORT:8080" -v "$VOL:/data" \
    "$IMAGE" >"$WORK/run.log" 2>&1 || {
    cat "$WORK/run.log"
    fail "podman run of a second container on the volume"
}
wait_healthy || fail "/healthz did not answer within 30 s in the second container"
download || fail "the file is gone or differs in a new container on the same volume"

say "ok in $(($(date +%s) - T0)) s (image $(pm image inspect -f '{{.Size}}' "$IMAGE") bytes)"
say "1 passed, 0 failed"
