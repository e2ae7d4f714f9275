"""WebSocket and Upgrade tunnels through gatehouse (issue 3).

Messages go through gatehouse to the demo origin's WebSocket echo (paths under
/ws) or to a ScriptedWsBackend (ws_helpers.py) when the backend must do
something the echo does not: close first, reset, half-close, push frames,
answer the handshake wrongly. Raw sockets are used wherever exact bytes or
exact timing matter.
"""

import asyncio
import os
import socket
import time

import base64
import pytest
import websockets

import helpers
import ws_helpers
from helpers import build_request, read_response, route, SockReader
from ws_helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, finished,
                        parse_close, raw_ws_connect)


# --------------------------------------------------------------------------
# Fixtures and small helpers


@pytest.fixture
def ws_backend():
    """Factory: ws_backend(script, accept="auto", extra_headers=()) -> ScriptedWsBackend."""
    started = []

    def start(script, **kw):
        b = ws_helpers.ScriptedWsBackend(script, **kw)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def proxy(gatehouse, backend, timeouts=None, **server):
    srv = dict(server, reverse_proxy=[route(backend, "/")])
    if timeouts:
        srv["timeouts"] = timeouts
    return gatehouse({"server": srv})


def run(coro, timeout=30.0):
    """Runs a coroutine with a hard bound on its duration."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def wsconnect(gh, path="/ws/echo", **kw):
    opts = dict(open_timeout=10, close_timeout=5, ping_interval=None, max_size=None,
                compression=None)
    opts.update(kw)
    return websockets.connect(f"ws://127.0.0.1:{gh.port}{path}", **opts)


def upgrade_headers(key=None):
    return [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key or ws_helpers.new_key()), ("Sec-WebSocket-Version", "13")]


# --------------------------------------------------------------------------
# Messages through the echo


def test_text_and_binary_messages(gatehouse, origin):
    gh = proxy(gatehouse, origin())

    async def go():
        async with wsconnect(gh) as ws:
            for text in ["hello", "héllo wörld ✓ 🚀", "", "x" * 125, "y" * 126, "z" * 65536]:
                await ws.send(text)
                got = await ws.recv()
                assert isinstance(got, str) and got == text
            for data in [bytes(range(256)), b"", b"\x00" * 10, os.urandom(70000)]:
                await ws.send(data)
                got = await ws.recv()
                assert isinstance(got, bytes) and got == data

    run(go())


def test_one_mib_messages(gatehouse, origin):
    gh = proxy(gatehouse, origin())

    async def go():
        async with wsconnect(gh) as ws:
            for i in range(3):
                data = os.urandom(1 << 20)
                await ws.send(data)
                assert await ws.recv() == data
                text = (f"{i}-" + "ü" * (1 << 19))[: 1 << 19]  # 1 MiB of UTF-8
                await ws.send(text)
                assert await ws.recv() == text

    run(go(), 40)


def test_fragmented_messages(gatehouse, origin):
    gh = proxy(gatehouse, origin())

    async def fragments(parts):
        for p in parts:
            await asyncio.sleep(0.01)  # separate writes, so the proxy sees them apart
            yield p

    async def go():
        async with wsconnect(gh) as ws:
            await ws.send(fragments([b"frag1-", b"frag2-", b"", b"frag3"]))
            assert await ws.recv() == b"frag1-frag2-frag3"
            await ws.send(fragments(["tex", "t-fr", "agments ✓"]))
            assert await ws.recv() == "text-fragments ✓"
            big = [os.urandom(200_000) for _ in range(6)]
            await ws.send(fragments(big))
            assert await ws.recv() == b"".join(big)
            await ws.send("after fragments")
            assert await ws.recv() == "after fragments"

    run(go())


def test_thousand_messages_in_order(gatehouse, origin):
    gh = proxy(gatehouse, origin())
    n = 1000

    async def go():
        async with wsconnect(gh) as ws:
            sent = [f"msg-{i:04d}-{os.urandom(4).hex()}" if i % 2 else os.urandom(16) + i.to_bytes(2, "big")
                    for i in range(n)]

            async def sender():
                for m in sent:
                    await ws.send(m)

            async def receiver():
                return [await ws.recv() for _ in range(n)]

            _, got = await asyncio.gather(sender(), receiver())
            assert len(got) == n
            for i, (a, b) in enumerate(zip(sent, got)):
                assert a == b, f"message {i} differs or is out of order"

    run(go(), 40)


def test_ping_pong_both_ways(gatehouse, origin, ws_backend):
    gh = proxy(gatehouse, origin())

    async def client_ping():
        async with wsconnect(gh) as ws:
            for payload in [b"ping-data", b"", os.urandom(125)]:
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, 5)  # resolved only by a pong with the same data
            await ws.send("still fine")
            assert await ws.recv() == "still fine"

    run(client_ping())

    # The backend pings; the client's pong (same payload) travels back.
    def script(c):
        c.send(OP_PING, b"are-you-there")
        f = c.recv()
        c.result["frame"] = (f.opcode, f.payload, f.masked)
        c.send_close(1000)
        c.recv()

    b = ws_backend(script)
    gh2 = proxy(gatehouse, b)

    async def backend_ping():
        async with wsconnect(gh2, "/ws/ping") as ws:
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                pass

    run(backend_ping())
    res = finished(b.wait_conn())
    assert res["frame"] == (OP_PONG, b"are-you-there", True)


def test_frames_pass_byte_for_byte(gatehouse, ws_backend):
    """Fragments, interleaved control frames, 16- and 64-bit lengths and masks
    arrive exactly as sent, in both directions."""
    E = ws_helpers.encode_frame
    client_frames = (E(OP_TEXT, "whole") + E(OP_BINARY, b"part1", fin=False)
                     + E(OP_PING, b"mid-message ping") + E(OP_CONT, b"part2", fin=False)
                     + E(OP_CONT, os.urandom(300), fin=True) + E(OP_PONG, b"unsolicited")
                     + E(OP_BINARY, os.urandom(70000)) + E(OP_CLOSE, ws_helpers.close_payload(4321, "r")))
    server_frames = (E(OP_TEXT, "srv-a", fin=False, mask=False) + E(OP_PING, b"p", mask=False)
                     + E(OP_CONT, "srv-b", mask=False) + E(OP_BINARY, os.urandom(66000), mask=False)
                     + E(OP_CLOSE, ws_helpers.close_payload(4321, "r"), mask=False))

    def script(c):
        c.result["got"] = c.recv_exact(len(client_frames), timeout=10)
        c.send_raw(server_frames)
        c.result["end"] = c.wait_eof(5)[0]

    b = ws_backend(script)
    gh = proxy(gatehouse, b)
    with raw_ws_connect(gh.port) as ws:
        ws.sock.sendall(client_frames)
        ws.sock.settimeout(10)
        got = ws.reader.read_exact(len(server_frames))
        assert got == server_frames
    res = finished(b.wait_conn())
    assert res["got"] == client_frames
    assert res["end"] in ("eof", "reset")  # the client's close reached the backend


def test_upgrade_headers_forwarded_and_101_relayed(gatehouse, ws_backend):
    def script(c):
        f = c.recv()
        c.send(f.opcode, f.payload)
        c.result["close"] = c.recv().payload
        c.send_close(1000)

    b = ws_backend(script, extra_headers=[("Sec-WebSocket-Protocol", "chat.v2"),
                                          ("X-Backend-Said", "hi")])
    gh = proxy(gatehouse, b)
    key = ws_helpers.new_key()
    with helpers.connect(gh.port) as s:
        s.sendall(build_request("GET", "/ws/chat?room=1", headers=upgrade_headers(key) + [
            ("Sec-WebSocket-Protocol", "chat.v2, chat.v1"), ("Origin", "http://front.test"),
            ("Sec-WebSocket-Extensions", "x-test-ext")]))
        reader = SockReader(s)
        resp = read_response(reader)
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == ws_helpers.accept_for(key)
        assert resp.header("sec-websocket-protocol") == "chat.v2"
        assert resp.header("x-backend-said") == "hi"
        assert (resp.header("upgrade") or "").lower() == "websocket"
        assert "upgrade" in (resp.header("connection") or "").lower()
        ws = ws_helpers.RawWs(s, reader, resp, key)
        ws.send(OP_TEXT, "echo me")
        f = ws.recv()
        assert (f.opcode, f.payload, f.masked) == (OP_TEXT, b"echo me", False)
        ws.send(OP_CLOSE, ws_helpers.close_payload(1000))
        assert ws.recv().opcode == OP_CLOSE
    conn = b.wait_conn()
    finished(conn)
    req = conn.request
    assert req.method == "GET" and req.target == "/ws/chat?room=1"
    assert (req.header("upgrade") or "").lower() == "websocket"
    assert "upgrade" in (req.header("connection") or "").lower()
    assert req.header("sec-websocket-key") == key
    assert req.header("sec-websocket-version") == "13"
    assert req.header("sec-websocket-protocol") == "chat.v2, chat.v1"
    assert req.header("sec-websocket-extensions") == "x-test-ext"
    assert req.header("origin") == "http://front.test"
    assert req.header("x-forwarded-for") == "127.0.0.1"


# --------------------------------------------------------------------------
# Closing


def test_client_close_code_echoed_back(gatehouse, origin):
    gh = proxy(gatehouse, origin())

    async def go():
        async with wsconnect(gh) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            t0 = time.monotonic()
            await ws.close(code=4001, reason="bye")
            # The echo answers the close with the same code and closes TCP; the
            # client's closing handshake finishes only when both arrive.
            return ws.close_code, time.monotonic() - t0

    code, took = run(go())
    assert code == 4001
    assert took < 2.0, f"closing handshake took {took:.2f}s"


def test_client_close_reaches_backend(gatehouse, ws_backend):
    def script(c):
        f = c.recv()
        c.result["close"] = (f.opcode,) + parse_close(f.payload)
        c.send_close(*parse_close(f.payload))
        # The server closes TCP first (RFC 6455 7.1.1): returning closes it.

    b = ws_backend(script)
    gh = proxy(gatehouse, b)

    async def go():
        async with wsconnect(gh, "/ws/x") as ws:
            t0 = time.monotonic()
            await ws.close(code=4001, reason="client-bye")
            return ws.close_code, ws.close_reason, time.monotonic() - t0

    code, reason, took = run(go())
    assert (code, reason) == (4001, "client-bye")
    # Completing the handshake needs the backend's close frame and its TCP close.
    assert took < 2.0, f"closing handshake took {took:.2f}s"
    res = finished(b.wait_conn())
    assert res["close"] == (OP_CLOSE, 4001, "client-bye")


def test_backend_close_code_reaches_client(gatehouse, ws_backend):
    def script(c):
        c.send(OP_TEXT, "last words")
        c.send_close(4002, "backend-bye")
        f = c.recv()  # the client's answering close
        c.result["reply"] = (f.opcode,) + parse_close(f.payload)
        # The server closes TCP first (RFC 6455 7.1.1); the client must see it.

    b = ws_backend(script)
    gh = proxy(gatehouse, b)

    async def go():
        async with wsconnect(gh, "/ws/x") as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "last words"
            t0 = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            await asyncio.wait_for(ws.wait_closed(), 5)
            return info.value, ws.close_code, ws.close_reason, time.monotonic() - t0

    exc, code, reason, took = run(go())
    assert exc.rcvd is not None and exc.rcvd.code == 4002 and exc.rcvd.reason == "backend-bye"
    assert (code, reason) == (4002, "backend-bye")
    assert took < 2.0, f"close took {took:.2f}s to complete"
    res = finished(b.wait_conn())
    assert res["reply"] == (OP_CLOSE, 4002, "backend-bye")


def test_backend_reset_propagates_to_client(gatehouse, ws_backend):
    def script(c):
        c.send(OP_TEXT, "before reset")
        c.recv()  # the client says it got it
        c.result["reset_at"] = time.monotonic()
        c.reset()

    b = ws_backend(script)
    gh = proxy(gatehouse, b)
    with raw_ws_connect(gh.port) as ws:
        assert ws.recv().payload == b"before reset"
        ws.send(OP_TEXT, "got it")
        assert helpers.closed_by_peer(ws.sock, 3.0), "client connection still open after backend reset"
        seen_at = time.monotonic()
    res = finished(b.wait_conn())
    assert seen_at - res["reset_at"] < 1.0, f"reset took {seen_at - res['reset_at']:.2f}s to reach the client"


def test_client_reset_propagates_to_backend(gatehouse, ws_backend):
    def script(c):
        f = c.recv()
        c.result["msg"] = f.payload
        c.result["end"] = c.wait_eof(5)[:2]

    b = ws_backend(script)
    gh = proxy(gatehouse, b)
    ws = raw_ws_connect(gh.port)
    ws.send(OP_TEXT, "then reset")
    conn = b.wait_conn()
    assert helpers.wait_until(lambda: "msg" in conn.result, 5)
    ws_helpers.set_reset_on_close(ws.sock)
    t0 = time.monotonic()
    ws.close()
    res = finished(conn, 8)
    kind, at = res["end"]
    assert kind in ("eof", "reset"), "backend connection still open 5s after the client's reset"
    assert at - t0 < 1.0, f"client reset took {at - t0:.2f}s to reach the backend"


def test_half_close_from_client(gatehouse, ws_backend):
    """The client shuts down its sending side; the backend sees EOF and can
    still send to the client, which then sees the backend's close."""
    def script(c):
        c.result["msg"] = c.recv().payload
        kind, _, extra = c.wait_eof(5)
        c.result["eof"] = (kind, extra)
        c.send(OP_TEXT, "after your FIN")
        c.send_close(1000)

    b = ws_backend(script)
    gh = proxy(gatehouse, b)
    with raw_ws_connect(gh.port) as ws:
        ws.send(OP_TEXT, "before FIN")
        ws.sock.shutdown(socket.SHUT_WR)
        f = ws.recv(5)
        assert (f.opcode, f.payload) == (OP_TEXT, b"after your FIN")
        f = ws.recv(5)
        assert f.opcode == OP_CLOSE and parse_close(f.payload)[0] == 1000
        assert helpers.closed_by_peer(ws.sock, 3.0)
    res = finished(b.wait_conn())
    assert res["msg"] == b"before FIN"
    assert res["eof"] == ("eof", b""), "the client's half-close did not reach the backend as a FIN"


def test_half_close_from_backend(gatehouse, ws_backend):
    def script(c):
        c.send(OP_TEXT, "closing my side")
        c.shutdown_write()
        f = c.recv(5)
        c.result["late"] = (f.opcode, f.payload)

    b = ws_backend(script)
    gh = proxy(gatehouse, b)
    with raw_ws_connect(gh.port) as ws:
        assert ws.recv().payload == b"closing my side"
        ws.sock.settimeout(3)
        assert ws.sock.recv(1) == b"", "expected the backend's FIN"
        ws.send(OP_TEXT, "still talking")  # our direction stays open
        res = finished(b.wait_conn())
        assert res["late"] == (OP_TEXT, b"still talking")
        # Both directions are now shut: the tunnel ends and our socket is closed.
        ws.sock.shutdown(socket.SHUT_WR)
        assert helpers.closed_by_peer(ws.sock, 3.0)


# --------------------------------------------------------------------------
# Timeouts


def test_idle_tunnel_closed_after_tunnel_idle(gatehouse, ws_backend):
    def script(c):
        f = c.recv()
        c.send(f.opcode, f.payload)
        c.result["end"] = c.wait_eof(8)[:2]

    b = ws_backend(script)
    gh = proxy(gatehouse, b, timeouts={"tunnel_idle": "1s"})
    with raw_ws_connect(gh.port) as ws:
        ws.send(OP_TEXT, "one")
        assert ws.recv().payload == b"one"
        t0 = time.monotonic()
        closed = helpers.closed_by_peer(ws.sock, 5.0)
        took = time.monotonic() - t0
    assert closed, "idle tunnel still open 5s after the last traffic (tunnel_idle: 1s)"
    assert 0.8 <= took <= 3.0, f"idle tunnel closed after {took:.2f}s (tunnel_idle: 1s)"
    kind, at = finished(b.wait_conn(), 10)["end"]
    assert kind in ("eof", "reset"), "backend side of the idle tunnel was not closed"
    assert at - t0 <= 3.5


def test_traffic_keeps_tunnel_open(gatehouse, origin):
    gh = proxy(gatehouse, origin(), timeouts={"tunnel_idle": "1s"})

    async def go():
        async with wsconnect(gh) as ws:
            t0 = time.monotonic()
            i = 0
            while time.monotonic() - t0 < 3.0:
                await ws.send(f"tick {i}")
                assert await asyncio.wait_for(ws.recv(), 2) == f"tick {i}"
                i += 1
                await asyncio.sleep(0.5)
            assert time.monotonic() - t0 >= 3.0 and i >= 5
            await ws.send("done")
            assert await ws.recv() == "done"

    run(go())


def test_one_way_traffic_keeps_tunnel_open(gatehouse, ws_backend):
    """Only the backend talks (a notification stream): still not idle."""
    def script(c):
        for i in range(7):
            c.send(OP_TEXT, f"push {i}")
            time.sleep(0.5)
        c.send_close(1000)

    b = ws_backend(script)
    gh = proxy(gatehouse, b, timeouts={"tunnel_idle": "1s"})
    with raw_ws_connect(gh.port) as ws:
        got = [ws.recv(3).payload for _ in range(7)]
        assert got == [f"push {i}".encode() for i in range(7)]
        assert ws.recv(3).opcode == OP_CLOSE
    finished(b.wait_conn(), 10)


def test_tunnel_not_bound_by_http_timeouts(gatehouse, origin):
    """HTTP timeouts do not apply to a tunnel (tunnel_idle is separate)."""
    gh = proxy(gatehouse, origin(), timeouts={"tunnel_idle": "1h", "upstream_response": "1s",
                                              "client_body": "1s", "client_header": "1s"})

    async def go():
        async with wsconnect(gh) as ws:
            await ws.send("a")
            assert await ws.recv() == "a"
            await asyncio.sleep(2.5)
            await ws.send("b")
            assert await asyncio.wait_for(ws.recv(), 5) == "b"

    run(go())


# --------------------------------------------------------------------------
# Upgrades that do not happen


@pytest.mark.parametrize("status", [200, 404])
def test_refused_upgrade_keeps_connection_http(gatehouse, capture_backend, status):
    def answer(req):
        if req.header("upgrade"):
            return helpers.canned(status, body=f"no upgrade here ({status})")
        return helpers.canned(200, body="plain answer")

    b = capture_backend(response=answer)
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        reader = SockReader(s)
        s.sendall(build_request("GET", "/ws/refuse", headers=upgrade_headers()))
        r1 = read_response(reader)
        assert r1.status == status and r1.body == f"no upgrade here ({status})".encode()
        assert "close" not in (r1.header("connection") or "").lower()
        assert not r1.has("upgrade")
        s.sendall(build_request("GET", "/plain"))
        r2 = read_response(reader)
        assert r2.status == 200 and r2.body == b"plain answer"
    reqs = b.wait_requests(2)
    assert [r.target for r in reqs] == ["/ws/refuse", "/plain"]
    assert reqs[1].has("via") and not reqs[1].has("upgrade")


def test_bytes_after_refused_upgrade_are_parsed_as_http(gatehouse, capture_backend):
    """The client sends a second request right behind the upgrade request,
    before any answer. The backend refuses the upgrade, so the second request
    must be parsed by gatehouse as HTTP (routed to its own backend, with
    forwarding headers) and never tunnelled to the first backend."""
    refuser = capture_backend(response=helpers.canned(200, body="refused"))
    other = capture_backend(response=helpers.canned(200, body="other"))
    gh = gatehouse({"server": {"reverse_proxy": [route(refuser, "/ws"), route(other, "/other")]}})
    with helpers.connect(gh.port) as s:
        s.sendall(build_request("GET", "/ws/pipelined", headers=upgrade_headers())
                  + build_request("GET", "/other/second", headers=[("X-Second", "1")]))
        reader = SockReader(s)
        r1 = read_response(reader)
        r2 = read_response(reader)
    assert (r1.status, r1.body) == (200, b"refused")
    assert (r2.status, r2.body) == (200, b"other")
    req = other.wait_requests(1)[0]
    assert req.target == "/other/second" and req.header("x-second") == "1"
    assert req.has("via") and req.header("x-forwarded-for") == "127.0.0.1"
    time.sleep(0.3)
    assert len(refuser.requests) == 1
    for c in refuser.connections:
        assert b"/other/second" not in c.data and b"X-Second" not in c.data


@pytest.mark.parametrize("accept", ["wrong", "missing"])
def test_101_with_bad_accept_is_502(gatehouse, capture_backend, accept):
    head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    if accept == "wrong":
        head += f"Sec-WebSocket-Accept: {ws_helpers.accept_for('not-the-client-key')}\r\n"
    b = capture_backend(response=(head + "\r\n").encode())
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        # A frame and a second request right behind the upgrade: neither may
        # reach the backend through a tunnel that must not exist.
        s.sendall(build_request("GET", "/ws/bad", headers=upgrade_headers())
                  + ws_helpers.encode_frame(OP_TEXT, "smuggled-frame"))
        reader = SockReader(s)
        resp = read_response(reader)
        assert resp.status == 502, resp
        ps = resp.header("proxy-status") or ""
        assert "error=http_upgrade_failed" in ps, ps
        assert not resp.has("sec-websocket-accept")
        try:  # the connection may already be closed; that is fine
            s.sendall(ws_helpers.encode_frame(OP_TEXT, "late-frame")
                      + build_request("GET", "/ws/after"))
            helpers.closed_by_peer(s, 1.0)
        except OSError:
            pass
    time.sleep(0.3)
    first = b.connections[0]
    assert bytes(first.data).count(b"GET ") == 1, bytes(first.data)
    assert b"smuggled" not in first.data and b"late-frame" not in first.data
    # Anything that did reach the backend later came as parsed HTTP.
    for r in b.requests[1:]:
        assert r.has("via"), r.raw_head


def test_h2c_upgrade_not_tunnelled(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        reader = SockReader(s)
        s.sendall(build_request("GET", "/h2c", headers=[
            ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]))
        r1 = read_response(reader)
        assert r1.status == 200 and r1.body == b"captured"
        assert not r1.has("upgrade")
        s.sendall(build_request("GET", "/after"))  # still plain HTTP
        r2 = read_response(reader)
        assert r2.status == 200
    reqs = b.wait_requests(2)
    req = reqs[0]
    assert not req.has("upgrade"), req.raw_head
    assert "upgrade" not in ",".join(req.headers_all("connection")).lower(), req.raw_head
    assert not req.has("http2-settings"), req.raw_head
    assert reqs[1].target == "/after"


# --------------------------------------------------------------------------
# Many at once, logging


def test_200_concurrent_websockets_no_cross_talk(gatehouse, origin):
    o = origin(threads=2)
    gh = proxy(gatehouse, o)
    fds_before = len(os.listdir(f"/proc/{gh.pid}/fd"))
    n, per = 200, 5

    opened = [0]

    async def one(i, start, all_open):
        await start.wait()
        async with wsconnect(gh, f"/ws/c{i}", open_timeout=20) as ws:
            opened[0] += 1
            if opened[0] == n:
                all_open.set()
            await asyncio.wait_for(all_open.wait(), 30)  # all 200 tunnels open at once
            mine = [f"conn {i} msg {j} {os.urandom(6).hex()}" for j in range(per)]
            mine.append(f"{i}".encode() + os.urandom(32))
            got = []
            for m in mine:
                await ws.send(m)
                await asyncio.sleep(0)
            for _ in mine:
                got.append(await asyncio.wait_for(ws.recv(), 20))
            assert got == mine, f"connection {i} got messages that were not its own"
            return len(got)

    async def go():
        start, all_open = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(one(i, start, all_open)) for i in range(n)]
        start.set()
        return await asyncio.gather(*tasks)

    counts = run(go(), 50)
    assert counts == [per + 1] * n
    # Every tunnel's sockets are released once the clients have closed.
    released = helpers.wait_until(
        lambda: len(os.listdir(f"/proc/{gh.pid}/fd")) <= fds_before + 2, 5)
    assert released, (f"gatehouse holds {len(os.listdir(f'/proc/{gh.pid}/fd'))} fds "
                      f"after all tunnels closed (was {fds_before})")


def test_access_log_has_101(gatehouse, origin):
    o = origin()
    gh = proxy(gatehouse, o)

    async def go():
        async with wsconnect(gh, "/ws/logged") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"

    run(go())
    gh.stop()
    recs = [r for r in gh.access_log() if r.get("path", "").startswith("/ws/logged")]
    assert len(recs) == 1, gh.stdout()[-3000:]
    rec = recs[0]
    assert int(rec["status"]) == 101 and rec["method"] == "GET"
    assert str(o.port) in str(rec["backend"])
    assert not rec["proxy_status"]


def test_bytes_sent_before_the_101_are_not_tunnelled(gatehouse, ws_backend):
    """Bytes a client sends after its upgrade request but before the 101
    (RFC 6455 forbids it) never reach the backend as tunnel data."""
    def script(c):
        # Everything the backend receives after its 101 until the client closes.
        c.result["after"] = c.wait_eof(timeout=3.0)[2]

    b = ws_backend(script)
    gh = proxy(gatehouse, b)
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection(("127.0.0.1", gh.port), timeout=5)
    try:
        s.sendall((f"GET /ws/x HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
                  + b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            assert chunk, "connection closed before the 101"
            data += chunk
        assert data.startswith(b"HTTP/1.1 101"), data[:80]
    finally:
        s.close()
    after = finished(b.wait_conn())["after"] or b""
    assert b"smuggled" not in after, after
