#!/usr/bin/python3
"""New TLS connections for bench/run.sh: N connections, at most C at a time,
each doing one TLS handshake and one `GET PATH` with `Connection: close`,
then closing. Non-blocking sockets and one selector loop, stdlib only.

mode `full`: every handshake is a full one (no session offered), so the
server pays its key exchange and its certificate signature every time.
mode `resume`: each connection offers the session (ticket) of the last
connection that completed, as a browser coming back would; the first ones,
before any ticket exists, are full. Both modes count how many handshakes the
server really resumed (SSLSocket.session_reused), so neither is assumed.

h2load is not used for this: it resumes TLS sessions on its reconnects
(checked with nginx's $ssl_session_reused), so with `Connection: close` it
measures resumed handshakes, with no way to turn resumption off.

The client does not verify the certificate (as h2load); bench.py checks
beforehand that every proxy serves the same one. SNI is sent (`localhost`).

usage: tls.py HOST PORT PATH CONNECTIONS CONCURRENCY full|resume
prints one JSON line: conns (completed with 200 and the expected body),
errors, reused, elapsed_s, p50_us, p99_us (connect to last response byte),
versions and ciphers seen ({name: count}).
"""
import json
import selectors
import socket
import ssl
import sys
import time

EXPECT_BODY = b"hello, world\n"


class Conn:
    __slots__ = ("sock", "tls", "state", "t0", "buf", "out")


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    total, conc, mode = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    assert mode in ("full", "resume")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "Connection: close\r\n\r\n").encode()

    sel = selectors.DefaultSelector()
    started = done = errors = reused = 0
    lat, versions, ciphers = [], {}, {}
    session = None  # resume mode: the latest session with a ticket
    live = 0

    def fail(c, why):
        nonlocal errors
        errors += 1
        if errors <= 5:
            print(f"tls: connection failed: {why}", file=sys.stderr)
        close(c)

    def close(c):
        nonlocal live
        try:
            sel.unregister(c.tls or c.sock)
        except (KeyError, ValueError):
            pass
        (c.tls or c.sock).close()
        live -= 1

    def open_one():
        nonlocal started, live
        started += 1
        live += 1
        c = Conn()
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sock.setblocking(False)
        c.tls, c.buf, c.out = None, b"", request
        c.t0 = time.perf_counter_ns()
        err = c.sock.connect_ex((host, port))
        if err not in (0, 115):  # EINPROGRESS
            fail(c, f"connect: errno {err}")
            return
        c.state = "connect"
        sel.register(c.sock, selectors.EVENT_WRITE, c)

    def want(c, ev):
        sel.modify(c.tls or c.sock, ev, c)

    def step(c):
        """Advance one connection as far as it goes without blocking."""
        nonlocal done, reused, session
        if c.state == "connect":
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return fail(c, f"connect: errno {err}")
            sel.unregister(c.sock)
            c.tls = ctx.wrap_socket(c.sock, server_hostname="localhost", do_handshake_on_connect=False,
                                    session=session if mode == "resume" else None)
            sel.register(c.tls, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            c.state = "handshake"
        if c.state == "handshake":
            try:
                c.tls.do_handshake()
            except ssl.SSLWantReadError:
                return want(c, selectors.EVENT_READ)
            except ssl.SSLWantWriteError:
                return want(c, selectors.EVENT_WRITE)
            except (OSError, ssl.SSLError) as e:
                return fail(c, f"handshake: {e}")
            c.state = "send"
        if c.state == "send":
            try:
                n = c.tls.send(c.out)
            except ssl.SSLWantReadError:
                return want(c, selectors.EVENT_READ)
            except ssl.SSLWantWriteError:
                return want(c, selectors.EVENT_WRITE)
            except OSError as e:
                return fail(c, f"send: {e}")
            c.out = c.out[n:]
            if c.out:
                return want(c, selectors.EVENT_WRITE)
            c.state = "recv"
            want(c, selectors.EVENT_READ)
        if c.state == "recv":
            while True:
                try:
                    chunk = c.tls.recv(16384)
                except (ssl.SSLWantReadError, BlockingIOError):
                    return
                except ssl.SSLWantWriteError:
                    return want(c, selectors.EVENT_WRITE)
                except OSError as e:
                    return fail(c, f"recv: {e}")
                if not chunk:
                    return fail(c, f"closed before the whole response ({len(c.buf)} bytes)")
                c.buf += chunk
                head, sep, body = c.buf.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = None
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                if length is None:
                    return fail(c, "no Content-Length in the response")
                if len(body) < length:
                    continue
                if not head.startswith(b"HTTP/1.1 200 ") or body[:length] != EXPECT_BODY:
                    return fail(c, f"unexpected response: {head.split(chr(13).encode())[0]!r} {body[:40]!r}")
                lat.append((time.perf_counter_ns() - c.t0) // 1000)
                done += 1
                reused += c.tls.session_reused
                v, ci = c.tls.version(), c.tls.cipher()[0]
                versions[v] = versions.get(v, 0) + 1
                ciphers[ci] = ciphers.get(ci, 0) + 1
                if mode == "resume":
                    s = c.tls.session  # TLS 1.3: tickets arrived before the response
                    if s is not None and s.has_ticket:
                        session = s
                return close(c)

    t0 = time.perf_counter()
    while started < total and live < conc:
        open_one()
    while live:
        events = sel.select(timeout=30)
        if not events:
            print(f"tls: {live} connections stuck for 30 s", file=sys.stderr)
            errors += live
            break
        for key, _ in events:
            step(key.data)
        while started < total and live < conc:
            open_one()
    elapsed = time.perf_counter() - t0
    lat.sort()
    pick = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else 0
    print(json.dumps(dict(conns=done, errors=errors + (total - started), reused=reused,
                          elapsed_s=elapsed, p50_us=pick(0.50), p99_us=pick(0.99),
                          versions=versions, ciphers=ciphers)))


if __name__ == "__main__":
    main()
