#!/usr/bin/python3
"""Slow readers of long coded responses for bench/run.sh (case compress100).

Opens N connections to HOST:PORT (at most CONCURRENCY connecting at once),
each with a 16 KiB SO_RCVBUF (so the TCP window stays small) and an MSS of
1460 set before connecting: over loopback's 64 KiB segments the kernel would
grow the proxy's send buffer of each connection towards 4 MiB, all of it
coded text made ahead of the client; with an Ethernet-sized MSS it stays
near 400 KiB. It sends one `GET PATH` with `Accept-Encoding: CODING`, then reads
its response at RATE bytes per second per connection (bytes on the wire:
head, coded body and chunk framing), in 50 ms ticks. With a PATH longer than
what is read during the case, the proxy holds N responses in the middle of
compressing them, paced by the clients.

Protocol with the driver, one line each way on stdin/stdout:
  prints  {"streaming": s, "coded": k, "failed": f, "elapsed_s": t}
          once every connection has its response head and some body bytes,
          or has failed (f: connect errors, a status other than 200, closed
          early); k of the s streaming say `Content-Encoding: CODING`
  reads   "stop" (or EOF) -> prints {"read_bytes": b, "ended": e, "failed": f}
          (b: bytes read by all connections since the start, e: streams the
          proxy ended or closed since the first line, f: streams that failed
          since), then resets every connection (SO_LINGER 0: no TIME_WAIT on
          the client's ports) and exits.

usage: slowread.py HOST PORT PATH N RATE [CODING] [CONCURRENCY]
"""
import json
import select
import socket
import struct
import sys
import time

TICK = 0.05
RCVBUF = 16 << 10
MSS = 1460


class Stream:
    def __init__(self, sock):
        self.sock = sock
        self.head = b""
        self.status = None
        self.coding = None
        self.body = 0        # bytes after the head
        self.read = 0        # all bytes read
        self.allow = 0.0     # bytes this stream may still read now
        self.state = "open"  # open, ended, failed


def parse_head(st, coding):
    end = st.head.find(b"\r\n\r\n")
    if end < 0:
        return False
    lines = st.head[:end].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    st.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-encoding":
            st.coding = value.strip().decode(errors="replace").lower()
    st.body = len(st.head) - end - 4
    st.head = st.head[:end + 4]
    return True


def main():
    host, port, path, n, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    coding = sys.argv[6] if len(sys.argv) > 6 else "gzip"
    concurrency = int(sys.argv[7]) if len(sys.argv) > 7 else n
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Accept-Encoding: {coding}\r\n\r\n").encode()
    t0 = time.monotonic()
    streams, failed_connect = [], 0
    for i in range(0, n, concurrency):
        batch = []
        for _ in range(min(concurrency, n - i)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, MSS)
            s.setblocking(False)
            s.connect_ex((host, port))
            batch.append(s)
        deadline = time.monotonic() + 10
        pending = list(batch)
        while pending and time.monotonic() < deadline:
            _, ready, _ = select.select([], pending, [], 0.5)
            for s in ready:
                pending.remove(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    failed_connect += 1
                    s.close()
                    continue
                s.send(request)   # tiny: fits the empty send buffer
                streams.append(Stream(s))
        for s in pending:
            failed_connect += 1
            s.close()

    def tick(cap):
        """Lets each open stream read its share of RATE; returns bytes read."""
        got = 0
        for st in streams:
            if st.state != "open":
                continue
            st.allow = min(st.allow + rate * TICK, cap)
            while st.allow >= 1:
                try:
                    data = st.sock.recv(int(min(st.allow, 65536)))
                except BlockingIOError:
                    break
                except OSError:
                    st.state = "failed"
                    break
                if not data:
                    st.state = "ended"
                    break
                st.allow -= len(data)
                st.read += len(data)
                got += len(data)
                if st.status is None:
                    st.head += data
                    if parse_head(st, coding) and st.status != 200:
                        st.state = "failed"
                else:
                    st.body += len(data)
        return got

    # Until every stream has its head and some body (or failed): reading
    # as fast as the rate allows, heads being short.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tick(rate * TICK)
        if all(st.state != "open" or (st.status == 200 and st.body > 0) for st in streams):
            break
        time.sleep(TICK)
    streaming = [st for st in streams if st.state == "open" and st.status == 200 and st.body > 0]
    print(json.dumps({"streaming": len(streaming),
                      "coded": sum(1 for st in streaming if st.coding == coding),
                      "failed": n - len(streaming), "elapsed_s": time.monotonic() - t0}), flush=True)

    # Then steady: RATE per second each, until the driver says stop.
    stdin = sys.stdin.fileno()
    while True:
        tick(rate * TICK * 2)
        r, _, _ = select.select([stdin], [], [], TICK)
        if r:
            line = sys.stdin.readline()
            if not line or line.strip() == "stop":
                break
    print(json.dumps({"read_bytes": sum(st.read for st in streams),
                      "ended": sum(1 for st in streaming if st.state == "ended"),
                      "failed": sum(1 for st in streaming if st.state == "failed")}), flush=True)
    linger = struct.pack("ii", 1, 0)
    for st in streams:
        try:
            st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        st.sock.close()


if __name__ == "__main__":
    main()
