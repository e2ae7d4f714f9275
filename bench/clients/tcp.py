#!/usr/bin/env python3
"""The tcp1g case's client: `tcp.py HOST PORT MIB CONNS`. CONNS connections
at once through the proxy to bench/backends/tcp_sink.py, together sending
MIB MiB (one 1 MiB buffer sent over and over), each then shutting down its
write side and reading the sink's byte count, which must match. Prints one
JSON line: bytes, elapsed_s, errors."""

import json
import socket
import sys
import threading
import time


def one(host, port, nbytes, out, i):
    block = memoryview(bytes(1 << 20))
    try:
        c = socket.create_connection((host, port), timeout=120)
        left = nbytes
        while left > 0:
            n = min(left, len(block))
            c.sendall(block[:n])
            left -= n
        c.shutdown(socket.SHUT_WR)
        got = b""
        while not got.endswith(b"\n"):
            d = c.recv(64)
            if not d:
                break
            got += d
        c.close()
        out[i] = int(got) == nbytes
    except (OSError, ValueError):
        out[i] = False


def main():
    host, port, mib, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    per = (mib << 20) // conns
    ok = [False] * conns
    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(host, port, per, ok, i)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    print(json.dumps({"bytes": per * sum(ok), "elapsed_s": elapsed, "errors": conns - sum(ok)}))


if __name__ == "__main__":
    main()
