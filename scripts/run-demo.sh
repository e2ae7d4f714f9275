#!/usr/bin/env bash
# `make run`: two demo origins and gatehouse in front of them on localhost:8080.
set -euo pipefail
build=${1:-build}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
for port in 9001 9002; do
  "$build/demo-origin" --port "$port" --name "origin-$port" &
  pids+=($!)
done
sleep 0.3
cat <<TXT

gatehouse demo: try
  curl -i http://localhost:8080/hello            # origin-9001 echoes what it received
  curl -i http://localhost:8080/api/users        # /api is balanced over both origins
  curl -i http://localhost:8080/api/status/503   # a backend's own error passes through
Press Ctrl-C to stop.

TXT
"$build/gatehouse" run -c examples/demo.yaml
