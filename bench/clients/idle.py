#!/usr/bin/python3
"""Idle client connections for bench/run.sh (cases idle10k, idle10k-tls,
idle10k-tls-nothing, idle10k-tls-half); tests/e2e/test_tls_idle.py imports
open_idle() from here.

Opens N connections to HOST:PORT (at most CONCURRENCY connecting at once, so
no listen backlog overflows), optionally completes a TLS handshake on each
(--tls), then does what --then says, and leaves the connection open and
silent:
  get      one keep-alive `GET PATH`, whole response read (the default)
  nothing  nothing at all (with --tls: the handshake and nothing more)
  half     the first half of a `GET PATH` request head, never the rest

Protocol with the driver, one line each way on stdin/stdout:
  prints  {"open": n, "failed": f, "elapsed_s": t}   when all N are idle
  reads   "check"  -> prints {"alive": a}   (connections the proxy has not closed)
  reads   "close" or EOF -> resets every connection (SO_LINGER 0: no TIME_WAIT
          left behind on the client's ports) and exits.

With --tls the certificate is not checked (bench.py checks beforehand that
every proxy serves the same one); SNI `localhost` and ALPN http/1.1 are sent.
TLS 1.3 servers send their session tickets after the handshake: the client
reads them (so a connection is "alive" when reading it gives nothing new,
not when its socket has no bytes waiting).

usage: idle.py HOST PORT N [CONCURRENCY] [PATH] [--tls] [--then get|nothing|half]
"""
import errno
import json
import select
import socket
import ssl
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


def tls_alive(t):
    """A TLS connection the proxy has not closed: reading gives nothing (it
    may consume late session tickets)."""
    try:
        data = t.recv(4096)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return True
    except OSError:
        return False
    return False if not data else True  # bytes nobody asked for: still open


def open_idle(host, port, n, concurrency=200, path="/small", use_tls=False, then="get"):
    """Opens the connections as described above. Returns (connections:
    plain or ssl.SSLSocket objects, non-blocking, failed count, seconds)."""
    assert then in ("get", "nothing", "half"), then
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    if then == "half":
        request = request[: len(request) // 2]
    elif then == "nothing":
        request = b""
    ctx = None
    if use_tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])

    ep = select.epoll()
    # fd -> [sock, state, buffer, tls, fd]; states: connecting, handshake, send, recv
    # (the fd is kept apart: wrapping a socket in TLS detaches the plain object)
    pending = {}
    idle, failed, started = [], 0, 0
    t0 = time.monotonic()

    def done(st):
        ep.unregister(st[4])
        del pending[st[4]]
        idle.append(st[3] or st[0])

    def step(st):
        s, t, fd = st[0], st[3], st[4]
        if st[1] == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, "connect")
            if ctx:
                st[3] = t = ctx.wrap_socket(s, server_hostname="localhost",
                                            do_handshake_on_connect=False)
                st[1] = "handshake"
            else:
                st[1] = "send"
        if st[1] == "handshake":
            try:
                t.do_handshake()
            except ssl.SSLWantReadError:
                ep.modify(fd, select.EPOLLIN)
                return
            except ssl.SSLWantWriteError:
                ep.modify(fd, select.EPOLLOUT)
                return
            st[1] = "send"
        if st[1] == "send":
            if request:
                (t or s).send(request)  # tiny: fits the empty send buffer
            if then != "get":
                return done(st)
            st[1] = "recv"
            ep.modify(fd, select.EPOLLIN)
            return
        # recv
        while True:
            try:
                data = (t or s).recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                return
            if not data:
                raise OSError("closed before the response ended")
            st[2] += data
            if response_complete(st[2]):
                return done(st)

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
            pending[s.fileno()] = [s, "connecting", b"", None, s.fileno()]
            ep.register(s.fileno(), select.EPOLLOUT)
        events = ep.poll(30)
        if not events:
            print(f"idle: no progress for 30 s ({len(pending)} pending)", file=sys.stderr)
            failed += len(pending)
            for fd, st in list(pending.items()):
                ep.unregister(fd)
                (st[3] or st[0]).close()
            pending.clear()
            break
        for fd, ev in events:
            st = pending[fd]
            try:
                step(st)
            except OSError as e:
                if failed < 5:
                    print(f"idle: connection failed: {e}", file=sys.stderr)
                failed += 1
                ep.unregister(fd)
                del pending[fd]
                (st[3] or st[0]).close()
    ep.close()
    if use_tls:
        # Session tickets of the last connections: read them before the
        # figure is taken, so the proxy has finished writing to every one.
        time.sleep(0.2)
        for t in idle:
            tls_alive(t)
    return idle, failed, time.monotonic() - t0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    use_tls = "--tls" in sys.argv
    then = "get"
    if "--then" in sys.argv:
        then = sys.argv[sys.argv.index("--then") + 1]
        args.remove(then)
    host, port, n = args[0], int(args[1]), int(args[2])
    concurrency = int(args[3]) if len(args) > 3 else 200
    path = args[4] if len(args) > 4 else "/small"
    idle, failed, elapsed = open_idle(host, port, n, concurrency, path, use_tls, then)
    print(json.dumps({"open": len(idle), "failed": failed, "elapsed_s": elapsed}), flush=True)

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "check":
            if use_tls:
                alive = sum(1 for t in idle if tls_alive(t))
            else:
                # A connection the proxy closed (or wrote to) is readable now.
                chk = select.epoll()
                for s in idle:
                    chk.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
                alive = len(idle) - len(chk.poll(0, maxevents=len(idle) or 1))
                chk.close()
            print(json.dumps({"alive": alive}), flush=True)
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
