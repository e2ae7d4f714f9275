#!/usr/bin/env bash
# Side-by-side benchmarks: nginx, HAProxy, gatehouse and HAProxy mode tcp
# (and Varnish in cachehit), one worker each, behind/in front of one shared
# demo-origin backend.
#
# usage: bench/run.sh [case...]   cases: small policies many newconn large1m large100m upload1m idle10k ws
#                                        tls tlsnew tlsresume tls1m tls100m (HTTPS); idle10k-tls idle10k-tls-nothing idle10k-tls-half
#                                        h2 (HTTP/2 over TLS); grpc (gRPC over h2c, python3-grpcio backend)
#                                        gzip1m br1m zstd1m compress100 (on-the-fly compression)
#                                        cachehit (a small object from each proxy's cache, Varnish too)
#                                        passthrough (TLS passthrough by SNI, new connections; nginx ssl_preread)
#                                        ratelimit ratelimit-redis fauth jwt waf (issue 15's policies, vs small)
#                                        tcp1g (1 GiB through a TCP stream: gatehouse `streams` vs HAProxy mode tcp)
#   BENCH_QUICK=1     ~1 minute smoke run (smaller counts, one round)
#   BENCH_ROUNDS=N    interleaved rounds (default 3; the median is quoted)
#   BENCH_PROXIES="nginx gatehouse"   a subset of: nginx haproxy gatehouse haproxy-tcp varnish
#                     (varnish takes part in cachehit only)
#   BENCH_<CASE>_N / BENCH_<CASE>_C   counts per case, e.g. BENCH_SMALL_N=50000
#   BENCH_BUILD=dir   where gatehouse is built (default build-bench)
#   BENCH_TLS_KEY=ec256|rsa2048   the TLS cases' (and h2's) certificate key (default ec256: ECDSA P-256)
#   BENCH_PIN=0, BENCH_PROXY_CPUS / BENCH_BACKEND_CPUS / BENCH_LOAD_CPUS  pinning
#   BENCH_NO_DEPS=1, BENCH_NO_BUILD=1, BENCH_NO_RESULTS=1
# Details: docs/benchmarks.md. Results: bench/RESULTS.md and bench/out/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export BENCH_CMD="bench/run.sh${*:+ $*}"

[ "${BENCH_NO_DEPS:-0}" = 1 ] || scripts/deps.sh bench

build=${BENCH_BUILD:-$root/build-bench}   # bench.py has the same default
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  echo "bench: building gatehouse and demo-origin in $build" >&2
  blog=$(mktemp "${TMPDIR:-/tmp}/gatehouse-bench-build.XXXXXX")
  if ! { [ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo; } >"$blog" 2>&1 ||
     ! cmake --build "$build" --target gatehouse demo-origin >>"$blog" 2>&1; then
    cat "$blog" >&2
    rm -f "$blog"
    echo "bench: build failed" >&2
    exit 1
  fi
  rm -f "$blog"
fi

# 10,000 idle connections need as many descriptors in the proxy and in the client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "bench: fd limit $(ulimit -n)" >&2

# bench.py stops every process it starts. It runs in the background so that
# these traps fire at once on Ctrl-C or SIGTERM: they stop bench.py (which
# kills what it started), then kill whatever it recorded in the pid file and
# may have left behind (only those processes, nothing by name).
work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")  # configs, logs, pids
pidfile=$work/pids
: >"$pidfile"
export BENCH_PIDFILE=$pidfile BENCH_TMPDIR=$work
py_pid=
cleanup() {
  local pid
  if [ -n "$py_pid" ]; then
    kill -TERM "$py_pid" 2>/dev/null || true
    wait "$py_pid" 2>/dev/null || true
  fi
  # Each line: pid and its start time (field 22 of /proc/<pid>/stat), so a
  # pid the system has since given to another process is left alone.
  local start stat f
  while read -r pid start; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -ra f <<<"${stat##*) }"
    [ "${f[19]:-}" = "$start" ] && kill -9 "$pid" 2>/dev/null || true
  done < "$pidfile"
  rm -f "$pidfile"
  [ -e "$work/keep" ] || rm -rf "$work"   # bench.py keeps it when a measurement failed
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
/usr/bin/python3 "$root/bench/bench.py" "$@" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=
exit "$rc"
