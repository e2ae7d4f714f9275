#!/usr/bin/python3
"""WebSocket echo load for bench/run.sh: M connections, each doing K round
trips of one small masked text message (send, wait for the echo, send the
next).  Plain sockets and one epoll loop, stdlib only, so that the client
spends as little CPU per message as Python allows.

usage: ws.py HOST PORT PATH CONNECTIONS MESSAGES_PER_CONNECTION [SIZE]
prints one JSON line: messages, errors, elapsed_s, p50_us, p99_us.
"""
import base64
import json
import os
import selectors
import socket
import sys
import time


def handshake(host, port, path):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError("no 101: " + head.split(b"\r\n", 1)[0].decode(errors="replace"))
    if rest:
        raise ConnectionError("unexpected bytes after the 101")
    s.setblocking(False)
    return s


def frame(payload):
    # FIN + text, masked (client to server), payload up to 125 bytes.
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conns, per_conn = int(sys.argv[4]), int(sys.argv[5])
    size = int(sys.argv[6]) if len(sys.argv) > 6 else 32
    assert 0 < size <= 125
    payload = b"x" * size
    out = frame(payload)
    reply_len = 2 + size  # server frames are unmasked; short length form
    expect = bytes([0x81, size]) + payload

    socks, errors = [], 0
    for _ in range(conns):
        try:
            socks.append(handshake(host, port, path))
        except OSError as e:
            errors += 1
            print(f"ws: handshake failed: {e}", file=sys.stderr)
    sel = selectors.DefaultSelector()
    state = {}  # fd -> [sock, left, received bytes, sent at]
    lat = []
    t0 = time.perf_counter()
    for s in socks:
        state[s.fileno()] = [s, per_conn, b"", time.perf_counter_ns()]
        s.send(out)
        sel.register(s, selectors.EVENT_READ)
    while state:
        events = sel.select(timeout=30)
        if not events:  # 30 s without an echo: count the stuck connections as errors
            errors += len(state)
            print("ws: timed out waiting for echoes", file=sys.stderr)
            break
        for key, _ in events:
            st = state[key.fd]
            try:
                data = st[0].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                errors += 1
                sel.unregister(st[0]); st[0].close(); del state[key.fd]
                continue
            st[2] += data
            while len(st[2]) >= reply_len:
                msg, st[2] = st[2][:reply_len], st[2][reply_len:]
                now = time.perf_counter_ns()
                if msg != expect:
                    errors += 1
                lat.append(now - st[3])
                st[1] -= 1
                if st[1] > 0:
                    st[3] = now
                    st[0].send(out)
            if st[1] <= 0:
                sel.unregister(st[0])
                try:
                    st[0].setblocking(True)
                    st[0].send(bytes([0x88, 0x80]) + b"\0\0\0\0")  # close, empty masked
                except OSError:
                    pass
                st[0].close()
                del state[key.fd]
    elapsed = time.perf_counter() - t0
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1000 if lat else 0

    print(json.dumps({"messages": len(lat), "errors": errors, "elapsed_s": elapsed,
                      "p50_us": pct(0.50), "p99_us": pct(0.99)}))


if __name__ == "__main__":
    main()
