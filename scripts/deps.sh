#!/usr/bin/env bash
# Installs the Debian 12 packages gatehouse needs to build and test.
# Idempotent and quiet when everything is present.
# Usage: scripts/deps.sh [build|bench]
#   build: only what building the gatehouse binary needs (the Dockerfile's builder)
#   bench: everything, plus the proxies the benchmark compares against
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config ca-certificates
  libboost1.81-dev libssl-dev libyaml-cpp-dev libnghttp2-dev zlib1g-dev libbrotli-dev libzstd-dev libcrypt-dev
  libsystemd-dev libhiredis-dev libmodsecurity-dev nlohmann-json3-dev libcurl4-openssl-dev
)
# dpkg-dev, file: dpkg-shlibdeps computes the .deb's Depends and CPack finds the
# binaries with file(1) (`make deb`);
# systemd, strace: systemd-analyze checks the unit, strace what gatehouse calls
# against its sandbox (tests/e2e/test_package.py);
# pebble: the ACME test CA and its DNS server (tests/e2e/test_acme.py).
test_pkgs=(
  git modsecurity-crs redis-server dpkg-dev file systemd strace
  libgtest-dev libgmock-dev
  python3 python3-pytest python3-pytest-xdist python3-websockets python3-h2 python3-requests python3-trustme python3-grpcio python3-brotli python3-zstandard python3-jwt python3-cryptography
  chromium chromium-driver python3-selenium
  curl openssl nghttp2-client procps prometheus wrk haproxy
  pebble
)
case "${1:-}" in
  build) pkgs=("${build_pkgs[@]}") ;;
  bench) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}" nginx-light haproxy varnish wrk libnginx-mod-http-modsecurity libnginx-mod-stream) ;;
  *) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packaged daemons (nginx, haproxy) must not start on install: the bench starts its own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
