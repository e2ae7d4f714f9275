#!/usr/bin/python3
"""Idle keep-alive connections for bench/run.sh (case idle10k).

Opens N connections to HOST:PORT (at most CONCURRENCY connecting at once, so
no listen backlog overflows), sends one keep-alive `GET PATH` on each, reads
the whole response, and then leaves the connection open and silent.

Protocol with the driver, one line each way on stdin/stdout:
  prints  {"open": n, "failed": f, "elapsed_s": t}   when all N are idle
  reads   "check"  -> prints {"alive": a}   (connections the proxy has not closed)
  reads   "close" or EOF -> resets every connection (SO_LINGER 0: no TIME_WAIT
          left behind on the client's ports) and exits.

usage: idle.py HOST PORT N [CONCURRENCY] [PATH]
"""
import errno
import json
import select
import socket
import struct
import sys
import time


def response_complete(buf):
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = buf[:head_end].lower()
    body = len(buf) - head_end - 4
    for line in head.split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            return body >= int(line.split(b":", 1)[1])
    if b"transfer-encoding: chunked" in head:
        return buf.endswith(b"0\r\n\r\n")
    return True  # no body (or close-delimited, which a keep-alive answer is not)


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    path = sys.argv[5] if len(sys.argv) > 5 else "/small"
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()

    ep = select.epoll()
    pending = {}  # fd -> [sock, state, buffer]; state: 0 connecting, 1 reading
    idle, failed, started = [], 0, 0
    t0 = time.monotonic()
    while len(idle) + failed < n:
        while started < n and len(pending) < concurrency:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((host, port))
            started += 1
            if err not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
                continue
            pending[s.fileno()] = [s, 0, b""]
            ep.register(s.fileno(), select.EPOLLOUT)
        events = ep.poll(30)
        if not events:
            print(f"idle: no progress for 30 s ({len(pending)} pending)", file=sys.stderr)
            failed += len(pending)
            for fd, st in list(pending.items()):
                ep.unregister(fd); st[0].close()
            pending.clear()
            break
        for fd, ev in events:
            st = pending[fd]
            s = st[0]
            try:
                if st[1] == 0:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, "connect")
                    s.send(request)  # tiny: fits the empty send buffer
                    st[1] = 1
                    ep.modify(fd, select.EPOLLIN)
                    continue
                data = s.recv(65536)
                if not data:
                    raise OSError("closed before the response ended")
                st[2] += data
                if response_complete(st[2]):
                    ep.unregister(fd)
                    del pending[fd]
                    idle.append(s)
            except OSError as e:
                if failed < 5:
                    print(f"idle: connection failed: {e}", file=sys.stderr)
                failed += 1
                ep.unregister(fd)
                del pending[fd]
                s.close()
    print(json.dumps({"open": len(idle), "failed": failed,
                      "elapsed_s": time.monotonic() - t0}), flush=True)

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "check":
            # A connection the proxy closed (or wrote to) is readable now.
            chk = select.epoll()
            for s in idle:
                chk.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            ready = len(chk.poll(0, maxevents=len(idle) or 1))
            chk.close()
            print(json.dumps({"alive": len(idle) - ready}), flush=True)
        elif cmd == "close":
            break
    linger = struct.pack("ii", 1, 0)
    for s in idle:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        s.close()


if __name__ == "__main__":
    main()
