#!/bin/bash
# Instructions per keep-alive GET /small through gatehouse (one worker, admin
# listener on, access log off): callgrind totals for 6,000 requests minus
# 2,000, divided by 4,000. Exact where timings on a shared machine are not.
# With `newconn` as the second argument, every request comes on a new
# connection (`Connection: close`, like bench/run.sh newconn).
# Usage: bench/callgrind-small.sh DIR [newconn]   (DIR holds gatehouse and
# demo-origin; needs valgrind, h2load, curl; uses ports CG_PORT..CG_PORT+2,
# default 28600)
# CG_KEEP=dir keeps the callgrind files there (cg.2000, cg.6000) for
# callgrind_annotate.
set -e
P=${CG_PORT:-28600}
BIN=$(realpath "$1"); OUT=$(mktemp -d)
HDR=()
[ "${2:-}" = newconn ] && HDR=(-H "Connection: close")
cd $OUT
$BIN/demo-origin --port $((P+1)) >$OUT/origin.log 2>&1 & O=$!
sleep 0.5
cat > gh.yaml <<YAML
server:
  host: 127.0.0.1
  port: $P
  workers: 1
  access_log: off
  reverse_proxy:
    - path: /
      host: 127.0.0.1
      port: $((P+1))
admin:
  enabled: true
  port: $((P+2))
YAML
run() {
  valgrind --tool=callgrind --callgrind-out-file=$OUT/cg.$1 $BIN/gatehouse -c gh.yaml >/dev/null 2>&1 & V=$!
  for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$P/small && break; sleep 0.3; done
  h2load --h1 -c 10 -n $1 "${HDR[@]}" http://127.0.0.1:$P/small >/dev/null
  kill -TERM $V; wait $V || true
  grep -h "^summary\|^totals" $OUT/cg.$1 | head -1 | awk '{print $2}'
}
a=$(run 2000); b=$(run 6000)
kill $O || { echo "demo-origin died:"; tail -5 $OUT/origin.log; }
[ -n "${CG_KEEP:-}" ] && mkdir -p "$CG_KEEP" && cp $OUT/cg.* "$CG_KEEP"/
rm -rf "$OUT"
echo "per request: $(( (b - a) / 4000 ))"
