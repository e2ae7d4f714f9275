#!/bin/bash
# Instructions per keep-alive GET /small through gatehouse (one worker, admin
# listener on, access log off): callgrind totals for 6,000 requests minus
# 2,000, divided by 4,000. Exact where timings on a shared machine are not.
# Usage: bench/callgrind-small.sh DIR   (DIR holds gatehouse and demo-origin;
# needs valgrind, h2load, curl; uses ports 28600-28602)
set -e
BIN=$(realpath "$1"); OUT=$(mktemp -d)
cd $OUT
$BIN/demo-origin --port 28601 >/dev/null 2>&1 & O=$!
sleep 0.5
cat > gh.yaml <<YAML
server:
  host: 127.0.0.1
  port: 28600
  workers: 1
  access_log: off
  reverse_proxy:
    - path: /
      host: 127.0.0.1
      port: 28601
admin:
  enabled: true
  port: 28602
YAML
run() {
  valgrind --tool=callgrind --callgrind-out-file=$OUT/cg.$1 $BIN/gatehouse -c gh.yaml >/dev/null 2>&1 & V=$!
  for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:28600/small && break; sleep 0.3; done
  h2load --h1 -c 10 -n $1 http://127.0.0.1:28600/small >/dev/null
  kill -TERM $V; wait $V || true
  grep -h "^summary\|^totals" $OUT/cg.$1 | head -1 | awk '{print $2}'
}
a=$(run 2000); b=$(run 6000)
kill $O
rm -rf "$OUT"
echo "per request: $(( (b - a) / 4000 ))"
