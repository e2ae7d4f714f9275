#!/usr/bin/env bash
# Installs the Debian 12 packages gatehouse needs to build and test.
# Idempotent and quiet when everything is present. Usage: scripts/deps.sh [bench]
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libssl-dev libyaml-cpp-dev libnghttp2-dev zlib1g-dev libbrotli-dev libzstd-dev libcrypt-dev
  libhiredis-dev libmodsecurity-dev modsecurity-crs nlohmann-json3-dev libcurl4-openssl-dev redis-server
  libgtest-dev libgmock-dev
  python3 python3-pytest python3-websockets python3-h2 python3-requests python3-trustme python3-grpcio python3-brotli python3-zstandard python3-jwt python3-cryptography
  chromium chromium-driver python3-selenium
  curl openssl ca-certificates nghttp2-client procps
)
if [ "${1:-}" = bench ]; then
  pkgs+=(nginx-light haproxy varnish wrk nghttp2-client libnginx-mod-http-modsecurity)
fi

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
