#!/usr/bin/env bash
# Runs the public HTTP cache test suite (npm package http-cache-tests, from
# github.com/http-tests/cache-tests) against caching reverse proxies on this
# machine and prints its pass / fail / optional-fail counts.
#
#   tests/cache-tests/run.sh [gatehouse|nginx|varnish|haproxy ...]   (default: all)
#   tests/cache-tests/run.sh --published    counts of the results the package ships
#
# For each proxy: the suite's origin server on a free 127.0.0.1 port, the proxy
# in front of it on another, the suite's client against the proxy. Results:
# tests/cache-tests/out/<proxy>.json (the suite's own JSON, as its CLI prints
# it), out/<proxy>.tsv (one line a test: result, id, message) and out/<proxy>.counts.
# See tests/cache-tests/README.md for how the counts are made.
#
# Environment:
#   GATEHOUSE_BIN        gatehouse binary (default build/gatehouse)
#   CACHE_TESTS_DIR      where the npm package is installed (default build/cache-tests)
#   CACHE_TESTS_TIMEOUT  seconds the client may take per proxy (default 600)
#   CACHE_TESTS_KEEP=1   keep the temporary directory (configs, proxy logs)
#   CACHE_TESTS_ID=ID    run only the test ID and print the suite's dump of its
#                        requests and responses (nothing is written to out/)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PKG_NAME=http-cache-tests
PKG_VERSION=0.4.5
INSTALL_DIR=${CACHE_TESTS_DIR:-$ROOT/build/cache-tests}
PKG=$INSTALL_DIR/node_modules/$PKG_NAME
OUT_DIR=$HERE/out
GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/build/gatehouse}
SUITE_TIMEOUT=${CACHE_TESTS_TIMEOUT:-600}
ALL_PROXIES=(gatehouse nginx varnish haproxy)

die() { echo "cache-tests: $*" >&2; exit 2; }
log() { echo "cache-tests: $*" >&2; }

# ---------------------------------------------------------------- arguments
PUBLISHED=0
PROXIES=()
for arg in "$@"; do
  case "$arg" in
    gatehouse|nginx|varnish|haproxy) PROXIES+=("$arg") ;;
    --published) PUBLISHED=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown proxy '$arg' (gatehouse, nginx, varnish, haproxy, --published)" ;;
  esac
done
if [[ $PUBLISHED == 0 && ${#PROXIES[@]} == 0 ]]; then PROXIES=("${ALL_PROXIES[@]}"); fi

command -v node >/dev/null || die "node is needed (Node.js >= 14.8)"
command -v npm >/dev/null || die "npm is needed"
command -v curl >/dev/null || die "curl is needed"

# ---------------------------------------------------------------- temp dir, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cache-tests.XXXXXX")
chmod 755 "$WORK"   # nginx workers and varnish's child run as other users when we are root
PIDS=()

stop_pid() {  # stop_pid PID: TERM, up to 5 s, then KILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
  if [[ ${CACHE_TESTS_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

# wait_http PORT PID NAME: until something answers HTTP on 127.0.0.1:PORT (15 s)
wait_http() {
  local port=$1 pid=$2 name=$3 i
  for ((i = 0; i < 150; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before it answered on port $port"; return 1
    fi
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then return 0; fi
    sleep 0.1
  done
  log "$name did not answer on port $port within 15 s"; return 1
}

# ---------------------------------------------------------------- the suite
ensure_suite() {
  local have
  have=$(node -p "require('$PKG/package.json').version" 2>/dev/null || true)
  if [[ $have != "$PKG_VERSION" ]]; then
    log "installing $PKG_NAME@$PKG_VERSION into $INSTALL_DIR"
    mkdir -p "$INSTALL_DIR"
    # --ignore-scripts: nothing of the package needs to run at install time.
    timeout 300 npm install --prefix "$INSTALL_DIR" --no-save --no-audit --no-fund \
      --ignore-scripts --loglevel=error "$PKG_NAME@$PKG_VERSION" >&2 \
      || die "npm install $PKG_NAME@$PKG_VERSION failed"
  fi
}

# The counting script: classifies every test with the suite's own
# determineTestResult() (lib/display.mjs), which is what its results page uses
# for each cell, dependencies honoured, and tallies the classes.
write_summarizer() {
  cat > "$WORK/summarize.mjs" <<'EOF'
import fs from 'fs'
const [pkg, resultsFile, name, tsvFile] = process.argv.slice(2)
const display = await import(`${pkg}/lib/display.mjs`)
const suites = (await import(`${pkg}/tests/index.mjs`)).default
suites.push((await import(`${pkg}/tests/surrogate-control.mjs`)).default) // as cli.mjs and index.html do
const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))
const classes = { '✅': 'pass', '⛔️': 'fail', '⚠️': 'optional_fail', Y: 'yes', N: 'no',
  '🔹': 'setup_fail', '⁉️': 'harness_fail', '⚪️': 'dependency_fail', '↻': 'retry', '-': 'untested' }
const counts = Object.fromEntries(Object.values(classes).map(c => [c, 0]))
const lines = []
let total = 0
for (const suite of suites) {
  for (const test of suite.tests) {
    total++
    const cls = classes[display.determineTestResult(suites, test.id, results)[2]]
    if (cls === undefined) throw new Error(`unknown result class for ${test.id}`)
    counts[cls]++
    const r = results[test.id]
    const msg = Array.isArray(r) ? `${r[0]}: ${r[1]}` : ''
    lines.push([cls, test.kind || 'required', suite.id, test.id, test.name.replace(/\s+/g, ' '), msg.replace(/\s+/g, ' ')].join('\t'))
  }
}
if (tsvFile) fs.writeFileSync(tsvFile, 'result\tkind\tsuite\tid\tname\tmessage\n' + lines.join('\n') + '\n')
const c = counts
console.log(`${name}: pass ${c.pass}, fail ${c.fail}, optional-fail ${c.optional_fail}` +
  ` | checks yes ${c.yes} / no ${c.no}` +
  ` | dependency-fail ${c.dependency_fail}, setup-fail ${c.setup_fail}, retry ${c.retry}, harness-fail ${c.harness_fail}` +
  ` | not tested ${c.untested} | ${total} tests`)
EOF
}

summarize() {  # summarize RESULTS.json NAME [TSV]
  node --no-warnings "$WORK/summarize.mjs" "$PKG" "$1" "$2" "${3:-}"
}

ORIGIN_PORT=
start_origin() {
  # The suite's server listens on every interface (server.listen(port)); this
  # preload keeps it on 127.0.0.1.
  cat > "$WORK/loopback.mjs" <<'EOF'
import http from 'http'
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (port, ...rest) {
  if (rest.length === 0 && (typeof port === 'number' || typeof port === 'string')) {
    return listen.call(this, Number(port), '127.0.0.1')
  }
  return listen.call(this, port, ...rest)
}
EOF
  ORIGIN_PORT=$(free_port)
  (cd "$PKG" && exec env npm_config_protocol=http npm_config_port="$ORIGIN_PORT" \
     npm_config_pidfile="$WORK/origin.pid" \
     node --no-warnings --import "$WORK/loopback.mjs" server/server.mjs) \
     > "$WORK/origin.log" 2>&1 &
  PIDS+=($!)
  wait_http "$ORIGIN_PORT" "$!" "the suite's origin server" || { cat "$WORK/origin.log" >&2; return 1; }
  log "origin (suite server) on 127.0.0.1:$ORIGIN_PORT"
}

# ---------------------------------------------------------------- proxies
# Each start_<proxy> DIR PORT starts the proxy in the foreground of a
# background job, appends its pid to PIDS and sets PROXY_PID and PROXY_VERSION.

start_gatehouse() {
  local d=$1 port=$2
  [[ -x $GATEHOUSE_BIN ]] || { log "gatehouse binary not found at $GATEHOUSE_BIN (set GATEHOUSE_BIN)"; return 1; }
  cat > "$d/gatehouse.yaml" <<EOF
server:
  host: 127.0.0.1
  port: $port
  workers: 1
  access_log: $d/access.log
  timeouts:
    shutdown_drain: 0s
  reverse_proxy:
    - path: /
      backends: [{address: 127.0.0.1:$ORIGIN_PORT}]
      cache: true
EOF
  "$GATEHOUSE_BIN" run -c "$d/gatehouse.yaml" > "$d/stdout.log" 2> "$d/stderr.log" &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  PROXY_VERSION=$("$GATEHOUSE_BIN" version 2>/dev/null | awk 'NR == 1' || true)
}

# nginx: the suite's own setup (docker/nginx/nginx.conf in the package:
# proxy_cache + proxy_cache_revalidate on, worker_connections 2048), plus
# proxy_cache_background_update on so that stale-while-revalidate is served
# stale while a subrequest revalidates, as RFC 5861 describes. No
# proxy_cache_valid: nginx then stores only what has explicit freshness (no
# heuristic freshness), as a shared cache should. Everything else is nginx's
# default (HEAD converted to GET, key $scheme$proxy_host$request_uri, Vary,
# no-store/private/no-cache/Set-Cookie honoured, stale-if-error and
# stale-while-revalidate from Cache-Control honoured).
start_nginx() {
  local d=$1 port=$2 user=""
  command -v nginx >/dev/null || { log "nginx not installed (apt-get install -y nginx)"; return 1; }
  mkdir -p "$d/cache" "$d/tmp"
  if [[ $(id -u) == 0 ]]; then user="user nobody nogroup;"; chown nobody:nogroup "$d/cache" "$d/tmp"; fi
  cat > "$d/nginx.conf" <<EOF
$user
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 2048; }
http {
  access_log off;
  client_body_temp_path $d/tmp/client;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  proxy_cache_path $d/cache levels=1:2 keys_zone=cache:8m max_size=1000m inactive=600m use_temp_path=off;
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://127.0.0.1:$ORIGIN_PORT;
      proxy_cache cache;
      proxy_cache_revalidate on;
      proxy_cache_background_update on;
    }
  }
}
EOF
  nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" > "$d/stdout.log" 2>&1 &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  PROXY_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //' || true)
}

# Varnish: the built-in VCL with a backend (the VCL below holds only that),
# and the three parameters the suite's own setup passes (docker/serve.sh in
# the package): default_ttl=0 (no invented lifetime for a response without
# max-age/Expires; Varnish's default would cache it 120 s), default_grace=0
# (no serving stale for 10 s past freshness unless the response allows it)
# and default_keep=3600 (keep stale objects so they can be revalidated with
# If-None-Match / If-Modified-Since). Threads kept small for a 2-core box.
start_varnish() {
  local d=$1 port=$2
  command -v varnishd >/dev/null || { log "varnishd not installed (apt-get install -y varnish)"; return 1; }
  cat > "$d/default.vcl" <<EOF
vcl 4.1;
backend default {
  .host = "127.0.0.1";
  .port = "$ORIGIN_PORT";
}
EOF
  chmod 644 "$d/default.vcl"
  varnishd -F -n "$d/varnish" -a "127.0.0.1:$port" -T none -f "$d/default.vcl" -s malloc,64m \
    -p default_ttl=0 -p default_grace=0 -p default_keep=3600 \
    -p thread_pools=1 -p thread_pool_min=10 -p thread_pool_max=200 \
    > "$d/stdout.log" 2>&1 &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  PROXY_VERSION=$(varnishd -V 2>&1 | sed -nE '1s/.*\((varnish-[^ ]+).*/\1/p' || true)
}

# HAProxy: its cache section. max-age 86400 so the response's own lifetime
# decides (the default caps every object at 60 s); process-vary on so that
# responses with Vary (on the headers HAProxy understands: Accept-Encoding,
# Referer) can be stored at all. HAProxy stores only 200 responses to GET and
# has no revalidation, so many tests fail by design.
start_haproxy() {
  local d=$1 port=$2
  command -v haproxy >/dev/null || { log "haproxy not installed (apt-get install -y haproxy)"; return 1; }
  cat > "$d/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 2048
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
cache c
  total-max-size 64
  max-age 86400
  process-vary on
frontend fe
  bind 127.0.0.1:$port
  default_backend be
backend be
  http-request cache-use c
  http-response cache-store c
  server origin 127.0.0.1:$ORIGIN_PORT
EOF
  haproxy -db -f "$d/haproxy.cfg" > "$d/stdout.log" 2>&1 &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  PROXY_VERSION=$(haproxy -v 2>&1 | awk 'NR == 1 {print $3}' || true)
}

run_proxy() {
  local proxy=$1 port rc=0
  local d="$WORK/$proxy"
  mkdir -p "$d"; chmod 755 "$d"
  port=$(free_port)
  PROXY_PID=; PROXY_VERSION=
  "start_$proxy" "$d" "$port" || { log "$proxy: could not start it"; return 1; }
  wait_http "$port" "$PROXY_PID" "$proxy" || { tail -n 20 "$d"/*.log >&2 || true; return 1; }
  log "$proxy ${PROXY_VERSION:+($PROXY_VERSION) }on 127.0.0.1:$port; running the suite (at most ${SUITE_TIMEOUT}s)"
  local started=$SECONDS
  if [[ -n ${CACHE_TESTS_ID:-} ]]; then
    (cd "$PKG" && exec env npm_config_base="http://127.0.0.1:$port" npm_package_config_base= \
       npm_config_id="$CACHE_TESTS_ID" npm_package_config_id="$CACHE_TESTS_ID" \
       timeout "$SUITE_TIMEOUT" node --no-warnings cli.mjs) &
    local client=$!; PIDS+=("$client")
    wait "$client" || rc=$?
    log "$proxy: $CACHE_TESTS_ID took $((SECONDS - started)) s (exit $rc)"
    stop_pid "$PROXY_PID"
    return 0
  fi
  (cd "$PKG" && exec env npm_config_base="http://127.0.0.1:$port" npm_package_config_base= \
     npm_config_id= npm_package_config_id= \
     timeout "$SUITE_TIMEOUT" node --no-warnings cli.mjs) \
     > "$d/results.json" 2> "$d/client.err" &
  local client=$!; PIDS+=("$client")
  wait "$client" || rc=$?   # in the background so that a signal's trap runs at once
  if [[ $rc != 0 ]] || ! node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$d/results.json" 2>/dev/null \
     || [[ $(node -p 'Object.keys(require(process.argv[1])).length' "$d/results.json") == 0 ]]; then
    log "$proxy: the suite's client failed (exit $rc):"; tail -n 20 "$d/client.err" >&2; return 1
  fi
  if ! kill -0 "$PROXY_PID" 2>/dev/null; then log "$proxy: WARNING: the proxy exited during the run"; fi
  mkdir -p "$OUT_DIR"
  cp "$d/results.json" "$OUT_DIR/$proxy.json"
  summarize "$OUT_DIR/$proxy.json" "$proxy${PROXY_VERSION:+ $PROXY_VERSION}" "$OUT_DIR/$proxy.tsv" \
    | tee "$OUT_DIR/$proxy.counts"
  log "$proxy: $((SECONDS - started)) s; results in ${OUT_DIR#"$ROOT"/}/$proxy.json"
  stop_pid "$PROXY_PID"
}

# ---------------------------------------------------------------- main
ensure_suite
write_summarizer

if [[ $PUBLISHED == 1 ]]; then
  # The results the package ships (the data behind the suite's results page at
  # the time of the release), counted the same way against the same tests.
  for f in "$PKG"/results/*.json; do
    name=$(basename "$f" .json)
    ver=$(node --input-type=module -e "const i = (await import('$PKG/results/index.mjs')).default; const e = i.find(x => x.file === '$name.json'); console.log(e ? e.name + ' ' + e.version : '')")
    summarize "$f" "published ${ver:-$name}"
  done
  [[ ${#PROXIES[@]} == 0 ]] && exit 0
fi

start_origin
failed=()
for proxy in "${PROXIES[@]}"; do
  run_proxy "$proxy" || failed+=("$proxy")
done
if [[ ${#failed[@]} != 0 ]]; then log "could not run: ${failed[*]}"; exit 1; fi
