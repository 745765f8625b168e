#!/usr/bin/env bash
# Installs every Debian package the build and the test suite need, and nothing when all are
# already present, so the README's commands and CI share one list. Run as root (or via sudo).
set -euo pipefail
# libgnutls28-dev comes with libmicrohttpd-dev; it is named because STATIC_DEPS links
# GnuTLS itself, and build-essential brings the libstdc++.a that static LevelDB needs.
BUILD_PKGS="build-essential cmake pkg-config libmicrohttpd-dev libgnutls28-dev libleveldb-dev
  libsnappy-dev libjansson-dev libcurl4-openssl-dev libssl-dev libturbojpeg0-dev libstb-dev"
TEST_PKGS="libcmocka-dev python3 python3-pytest python3-requests curl clang libclang-rt-14-dev oathtool python3-tuspy aria2 nodejs $(command -v npm >/dev/null 2>&1 || echo npm)"
# --docker: what tests/docker/run.sh needs to build and run the image (docs/DOCKER.md)
DOCKER_PKGS="podman runc debootstrap curl"
# bench/run only (not CI): the load generator and the server it compares against. On
# Debian 12 the dav module (PUT) is built into "nginx"; "nginx-light" is only a transitional
# package that pulls it in together with an unneeded echo module.
BENCH_PKGS="wrk nginx curl openssl"
# --web: the browser tests of the upload page (tests/web/run.sh). A nodejs from NodeSource
# carries its own npm and conflicts with Debian's npm package, so npm only when it is missing.
WEB_PKGS="chromium chromium-driver nodejs"
command -v npm >/dev/null 2>&1 || WEB_PKGS="$WEB_PKGS npm"
want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$BUILD_PKGS $TEST_PKGS"
[ "${1:-}" = "--bench" ] && want="$BUILD_PKGS $BENCH_PKGS"
[ "${1:-}" = "--docker" ] && want="$DOCKER_PKGS"
[ "${1:-}" = "--web" ] && want="$WEB_PKGS"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
