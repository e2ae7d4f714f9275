#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang-14 (ASan + UBSan) into
# build-fuzz/ and runs each for a while. Works unattended from a fresh clone.
#
# Usage: scripts/fuzz.sh [SECONDS] [target...]
#   SECONDS  run time per target (default 30; 0 = build only)
#   target   fuzz_request_parser fuzz_response_parser fuzz_chunked fuzz_config
#            fuzz_router_rewrite http2_fuzz fuzz_cache_rules fuzz_jwt fuzz_client_hello
#            fuzz_proxy_protocol
#            (default: all)
# Environment: FUZZ_JOBS (parallel builds, default nproc), FUZZ_ARGS (extra
# libFuzzer flags, e.g. "-only_ascii=1"), FUZZ_KEEP_CORPUS=1 (keep growing
# build-fuzz/corpus/<target> across runs instead of starting from the seeds).
#
# The committed seeds in tests/fuzz/corpus/<target>/ are copied to
# build-fuzz/corpus/<target>/ and the run works there, so git stays clean.
# A crash (any non-zero exit) prints the input's path under
# build-fuzz/crashes/<target>/ and makes the script fail at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-30}"
if ! [[ "$secs" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [target...]" >&2
  exit 2
fi
[ $# -gt 0 ] && shift

all_targets=(fuzz_request_parser fuzz_response_parser fuzz_chunked fuzz_config fuzz_router_rewrite http2_fuzz fuzz_cache_rules fuzz_jwt fuzz_client_hello fuzz_proxy_protocol)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

# --- toolchain (same idempotent pattern as scripts/deps.sh) -------------------
pkgs=(clang-14 libclang-rt-14-dev libyaml-cpp-dev libnghttp2-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

CXX=clang++-14
root="$(pwd)"
out="$root/build-fuzz"
mkdir -p "$out"

# --- per-target sources, run length limit and dictionary ----------------------
http1_srcs="src/http1/request_parser.cc src/http1/response_parser.cc src/http1/chunked.cc src/http1/fields.cc src/http/fields.cc"
config_srcs="$(echo src/config/*.cc src/jose/*.cc) src/core/cidr.cc src/core/units.cc src/http/path.cc src/http/fields.cc"
proxy_srcs="src/proxy/router.cc src/proxy/rewrite.cc src/http/path.cc src/http/fields.cc"

sources() {
  case "$1" in
    fuzz_request_parser|fuzz_response_parser|fuzz_chunked) echo "$http1_srcs" ;;
    fuzz_config) echo "$config_srcs src/proxy/router.cc" ;;
    fuzz_router_rewrite) echo "$proxy_srcs" ;;
    http2_fuzz) echo "$(echo src/http2/*.cc) src/http/fields.cc" ;;
    fuzz_jwt) echo "$(echo src/jose/*.cc)" ;;
    fuzz_client_hello) echo "src/tls/client_hello.cc src/config/address.cc src/core/cidr.cc" ;;
    fuzz_proxy_protocol) echo "src/net/proxy_protocol_parse.cc" ;;
    fuzz_cache_rules) echo "src/cache/cache_control.cc src/cache/freshness.cc src/cache/http_date.cc src/cache/key.cc src/cache/range.cc src/http/fields.cc src/http/path.cc" ;;
    *) return 1 ;;
  esac
}
libs() {
  case "$1" in
    fuzz_config) echo "-lyaml-cpp -lcrypto -lmodsecurity" ;;   # a jwks_file (src/jose) and waf rules are checked at load
    http2_fuzz) echo "-lnghttp2" ;;
    fuzz_jwt) echo "-lcrypto" ;;
  esac
}
max_len() {
  case "$1" in
    fuzz_config) echo 4096 ;;            # the longest seed is 3.4 KB
    fuzz_router_rewrite) echo 9216 ;;    # past kMaxRewriteValue (8 KiB)
    fuzz_jwt) echo 17408 ;;              # past kMaxTokenBytes (16 KiB)
    fuzz_client_hello) echo 33792 ;;     # past kMaxClientHelloBytes (32 KiB)
    fuzz_proxy_protocol) echo 1024 ;;    # past kMaxHeader (536)
    *) echo 8192 ;;                      # past the 4 KiB chunk line limit
  esac
}
dict() {
  case "$1" in
    fuzz_config) echo "$root/tests/fuzz/config.dict" ;;
    fuzz_client_hello) echo "$root/tests/fuzz/tls.dict" ;;
    fuzz_proxy_protocol) echo "$root/tests/fuzz/proxy_protocol.dict" ;;
    *) echo "$root/tests/fuzz/http.dict" ;;
  esac
}

for t in "${targets[@]}"; do
  sources "$t" >/dev/null || { echo "fuzz: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2; }
done

# --- build ------------------------------------------------------------------
# -fno-sanitize-recover makes UBSan findings abort, so libFuzzer sees them as crashes.
# shellcheck disable=SC2054
cxxflags=(-std=c++20 -O1 -g -fno-omit-frame-pointer
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
          -Isrc)

# A target is rebuilt when a file it is built from or its .cc changed,
# or when the compiler flags did.
flags_now="$CXX ${cxxflags[*]}"
if [ "$(cat "$out/flags" 2>/dev/null)" != "$flags_now" ]; then
  rm -f "${all_targets[@]/#/$out/}"
  echo "$flags_now" >"$out/flags"
fi
# Files a target is built from (sources and the headers they may include).
inputs() {
  case "$1" in
    fuzz_request_parser|fuzz_response_parser|fuzz_chunked) echo src/http1/* src/http/exchange.h src/http/fields.cc ;;
    fuzz_config) echo src/config/* src/jose/* src/core/cidr.* src/core/units.* src/proxy/router.* src/http/path.* ;;
    fuzz_router_rewrite) echo src/proxy/router.* src/proxy/rewrite.* src/http/path.* src/config/config.h src/core/cidr.h ;;
    http2_fuzz) echo src/http2/* src/http/exchange.h src/http/fields.cc ;;
    fuzz_jwt) echo src/jose/* ;;
    fuzz_client_hello) echo src/tls/client_hello.* src/config/address.* src/core/cidr.* ;;
    fuzz_proxy_protocol) echo src/net/proxy_protocol.h src/net/proxy_protocol_parse.cc src/net/asio.h ;;
    fuzz_cache_rules) echo src/cache/* src/http/exchange.h src/http/fields.cc src/http/path.* src/http/token.h ;;
  esac
}
stale() {
  local bin="$out/$1"
  [ -x "$bin" ] || return 0
  # shellcheck disable=SC2046
  [ -n "$(find $(inputs "$1") "tests/fuzz/$1.cc" tests/fuzz/fuzz_check.h -newer "$bin" -print -quit)" ]
}

jobs="${FUZZ_JOBS:-$(nproc)}"
pids=()
names=()
build_failed=0
for t in "${targets[@]}"; do
  stale "$t" || continue
  echo "fuzz: building $t" >&2
  # shellcheck disable=SC2046
  $CXX "${cxxflags[@]}" "tests/fuzz/$t.cc" $(sources "$t") $(libs "$t") -o "$out/$t.tmp" \
    >"$out/$t.build.log" 2>&1 &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    if wait "${pids[0]}"; then mv "$out/${names[0]}.tmp" "$out/${names[0]}"
    else echo "fuzz: build of ${names[0]} failed:" >&2; cat "$out/${names[0]}.build.log" >&2; build_failed=1; fi
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then mv "$out/${names[$i]}.tmp" "$out/${names[$i]}"
  else echo "fuzz: build of ${names[$i]} failed:" >&2; cat "$out/${names[$i]}.build.log" >&2; build_failed=1; fi
done
[ "$build_failed" -eq 0 ] || exit 1
[ "$secs" -eq 0 ] && exit 0

# --- run --------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if symbolizer="$(command -v llvm-symbolizer-14)"; then export ASAN_SYMBOLIZER_PATH="$symbolizer"; fi
# The config target opens paths named in its input; relative ones resolve here.
scratch="$out/scratch"
mkdir -p "$scratch"

failed=()
printf '%-22s %12s %8s %7s %7s  %s\n' target executions exec/s cov corpus result
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  crashes="$out/crashes/$t"
  log="$out/logs/$t.log"
  [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$corpus"
  mkdir -p "$corpus" "$crashes" "$out/logs"
  cp -f "tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
  mark="$out/logs/$t.start"
  touch "$mark"
  rc=0
  # shellcheck disable=SC2086
  (cd "$scratch" && exec "$out/$t" -max_total_time="$secs" -max_len="$(max_len "$t")" \
      -dict="$(dict "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} "$corpus") >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
  size=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
  fi
  printf '%-22s %12s %8s %7s %7s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$size" "$result"
  if [ "$rc" -ne 0 ]; then
    new=$(find "$crashes" -type f -newer "$mark" | sort)
    for f in $new; do echo "  crash input: $f"; done
    [ -n "$new" ] || echo "  (no crash file written; see $log)"
    echo "  log: $log (last lines below)"
    # The finding and the frames in our code (not libFuzzer's or libc's).
    grep -E 'ERROR|SUMMARY|check failed|unexpected exception|runtime error|#[0-9]+ 0x.* in ' "$log" \
      | grep -vE ' in (fuzzer::|__sanitizer|__asan|__ubsan|__interceptor|__libc|_start|main |abort|raise|__pthread)' \
      | head -20 | sed 's/^/    /' || true
    echo "  reproduce: $out/$t <crash input>"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
