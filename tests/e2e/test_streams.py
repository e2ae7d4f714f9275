"""`streams` with `listen` (CONTRACT "L4 streams, PROXY protocol"): TCP
proxying on its own listener, byte for byte, with half-close, timeouts,
failover, health checks, balancing, PROXY headers out and reloads."""

import hashlib
import os
import re
import signal
import socket
import struct
import threading
import time

import pytest

from helpers import HOST, closed_by_peer, free_port, http_request, route, wait_until

MIB = 1 << 20
SANITIZED = bool(os.environ.get("GATEHOUSE_SANITIZED"))  # ASan's heap says nothing about ours
SLOW = 3.0 if SANITIZED else 1.0  # time bounds stretch under the sanitizers


class TcpBackend:
    """A TCP backend on 127.0.0.1 with a behaviour per connection:
    echo     - sends back every byte; on EOF shuts down its write side
    answer   - reads to EOF, then sends b"got <n> <sha256>" and closes
    name     - sends its name first, then echoes
    header   - reads a PROXY header (v1 line or v2 binary), keeps it, then echoes
    reset    - reads one chunk, then resets the connection (RST)
    """

    def __init__(self, mode="echo", name="b"):
        self.mode, self.name = mode, name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.address = f"{HOST}:{self.port}"
        self.accepted = 0
        self.headers = []
        self.received = []     # bytes received per finished connection
        self.eof_seen = threading.Event()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _read_header(self, c):
        first = c.recv(16, socket.MSG_WAITALL)
        if first.startswith(b"PROXY "):
            while not first.endswith(b"\r\n") and len(first) < 108:
                first += c.recv(1)
            return first
        length = struct.unpack("!H", first[14:16])[0]
        return first + c.recv(length, socket.MSG_WAITALL)

    def _serve(self, c):
        c.settimeout(60)
        total = 0
        h = hashlib.sha256()
        try:
            if self.mode == "name":
                c.sendall(self.name.encode() + b"\n")
            if self.mode == "header":
                self.headers.append(self._read_header(c))
            if self.mode == "reset":
                c.recv(100)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            while True:
                d = c.recv(1 << 20)
                if not d:
                    self.eof_seen.set()
                    break
                total += len(d)
                if self.mode == "answer":
                    h.update(d)
                else:
                    c.sendall(d)
            if self.mode == "answer":
                c.sendall(b"got %d %s" % (total, h.hexdigest().encode()))
            c.shutdown(socket.SHUT_WR)
            c.settimeout(5)
            while c.recv(65536):
                pass
        except OSError:
            pass
        finally:
            self.received.append(total)
            c.close()

    def stop(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def backends():
    made = []

    def make(mode="echo", name="b"):
        b = TcpBackend(mode, name)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


def dead_address():
    """An address nothing listens on (connects are refused)."""
    return f"{HOST}:{free_port()}"


def stream_cfg(backend_addrs, **extra):
    port = free_port()
    s = {"listen": f"{HOST}:{port}", "backends": [{"address": a} for a in backend_addrs]}
    s.update(extra)
    return port, s


def start(gatehouse, streams, **server):
    srv = {"workers": 1, "timeouts": {"shutdown_drain": "2s"}}
    srv.update(server)
    return gatehouse({"server": srv, "streams": streams})


def dial(port, timeout=10.0):
    return socket.create_connection((HOST, port), timeout=timeout)


def echo_once(port, payload=b"ping"):
    with dial(port) as c:
        c.sendall(payload)
        got = b""
        while len(got) < len(payload):
            d = c.recv(65536)
            if not d:
                break
            got += d
        return got


def stream_records(gh):
    import json
    out = []
    for line in gh.stdout().splitlines():
        if line.startswith("{") and '"kind":"stream"' in line:
            out.append(json.loads(line))
    return out


@pytest.mark.deadline(90)
def test_echo_100_mib_both_ways_byte_exact(gatehouse, backends):
    b = backends("echo")
    port, s = stream_cfg([b.address])
    gh = start(gatehouse, [s])
    block = os.urandom(MIB)
    sent_hash = hashlib.sha256()
    got_hash = hashlib.sha256()
    total = 100 * MIB
    c = dial(port, timeout=30)

    def send():
        for i in range(100):
            chunk = i.to_bytes(4, "big") + block[4:]   # every MiB different
            sent_hash.update(chunk)
            c.sendall(chunk)
        c.shutdown(socket.SHUT_WR)

    t0 = time.monotonic()
    sender = threading.Thread(target=send)
    sender.start()
    got = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        got_hash.update(d)
        got += d and len(d)
    sender.join(30)
    elapsed = time.monotonic() - t0
    c.close()
    assert got == total
    assert got_hash.hexdigest() == sent_hash.hexdigest()
    assert elapsed < 60, elapsed
    assert wait_until(lambda: stream_records(gh), 3), gh.stdout()[-2000:]
    rec = stream_records(gh)[-1]
    assert rec["bytes_received"] == total and rec["bytes_sent"] == total, rec
    assert rec["end"] == "closed" and rec["backend"] == b.address, rec


def test_half_close_backend_answers_after_eof(gatehouse, backends):
    b = backends("answer")
    port, s = stream_cfg([b.address])
    gh = start(gatehouse, [s])
    with dial(port) as c:
        c.sendall(b"hello")
        c.shutdown(socket.SHUT_WR)        # our write side only
        assert b.eof_seen.wait(5)         # the backend saw the FIN...
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
    # ...and its answer, sent after it, still reached us.
    assert got == b"got 5 " + hashlib.sha256(b"hello").hexdigest().encode()
    assert wait_until(lambda: stream_records(gh), 3)
    assert stream_records(gh)[-1]["end"] == "closed"


def test_short_exchanges_both_ways_then_half_close(gatehouse, backends):
    """A short connection (the copying phase only): small messages echoed
    one at a time, then a half-close passed on and answered with EOF."""
    b = backends("echo")
    port, s = stream_cfg([b.address])
    gh = start(gatehouse, [s])
    sent = 0
    with dial(port) as c:
        for n in (1, 7, 100, 1500, 4000, 17000, 3):
            msg = os.urandom(n)
            c.sendall(msg)
            got = b""
            while len(got) < n:
                d = c.recv(65536)
                assert d, "closed early"
                got += d
            assert got == msg
            sent += n
        c.shutdown(socket.SHUT_WR)
        assert c.recv(10) == b""           # the backend's FIN, after ours
    assert wait_until(lambda: stream_records(gh), 3)
    rec = stream_records(gh)[-1]
    assert rec["end"] == "closed", rec
    assert rec["bytes_received"] == sent and rec["bytes_sent"] == sent, rec


def test_backend_that_speaks_first_then_half_close(gatehouse, backends):
    """The backend writes before the client does (the backend side starts
    with a wait that must report bytes already there)."""
    b = backends("name", name="first")
    port, s = stream_cfg([b.address])
    start(gatehouse, [s])
    for _ in range(5):
        with dial(port) as c:
            assert c.recv(100) == b"first\n"
            c.sendall(b"x")
            assert c.recv(10) == b"x"
            c.shutdown(socket.SHUT_WR)
            assert c.recv(10) == b""


def test_bytes_and_fin_arriving_together(gatehouse, backends):
    """A short read followed by a wait must still see a FIN that came with
    the bytes: every byte and the FIN reach the backend, whose answer comes
    back (30 connections, so the bytes and the FIN often land at once)."""
    b = backends("answer")
    port, s = stream_cfg([b.address])
    start(gatehouse, [s])
    for i in range(30):
        msg = os.urandom(100 + 97 * i)
        with dial(port) as c:
            c.sendall(msg)
            c.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                d = c.recv(65536)
                if not d:
                    break
                got += d
        assert got == b"got %d %s" % (len(msg), hashlib.sha256(msg).hexdigest().encode())


def test_client_closing_early_closes_the_backend(gatehouse, backends):
    """The client resets its connection in the middle (the backend still
    echoing): the relay ends, the backend's side is closed, the next
    connection is served as usual."""
    b = backends("echo")
    port, s = stream_cfg([b.address])
    gh = start(gatehouse, [s])
    c = dial(port)
    c.sendall(os.urandom(300 * 1024))   # past the copying phase, unread echoes pile up
    time.sleep(0.2)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()                            # RST
    assert wait_until(lambda: b.received, 5 * SLOW)   # the backend's connection ended
    assert wait_until(lambda: stream_records(gh), 3)
    assert stream_records(gh)[-1]["end"] in ("reset", "closed"), stream_records(gh)[-1]
    assert echo_once(port, b"after") == b"after"


def test_idle_timeout_closes_both_sides(gatehouse, backends):
    b = backends("echo")
    port, s = stream_cfg([b.address], timeouts={"idle": "1s"})
    gh = start(gatehouse, [s])
    with dial(port) as c:
        c.sendall(b"x")
        assert c.recv(10) == b"x"
        t0 = time.monotonic()
        assert closed_by_peer(c, timeout=5)
        waited = time.monotonic() - t0
    assert 0.8 <= waited < 3.0 * SLOW, waited
    assert wait_until(lambda: b.received, 3)   # the backend's side was closed too
    assert wait_until(lambda: stream_records(gh), 3)
    assert stream_records(gh)[-1]["end"] == "idle_timeout"


def test_backend_reset_closes_the_client(gatehouse, backends):
    b = backends("reset")
    port, s = stream_cfg([b.address])
    gh = start(gatehouse, [s])
    with dial(port) as c:
        c.sendall(b"boom")
        t0 = time.monotonic()
        assert closed_by_peer(c, timeout=3 * SLOW)
        assert time.monotonic() - t0 < 1.5 * SLOW
    assert wait_until(lambda: stream_records(gh), 3)
    rec = stream_records(gh)[-1]
    assert rec["end"] == "reset" and rec["bytes_received"] == 4, rec


def test_idle_timeout_is_reset_by_traffic(gatehouse, backends):
    b = backends("echo")
    port, s = stream_cfg([b.address], timeouts={"idle": "1s"})
    start(gatehouse, [s])
    with dial(port) as c:
        for _ in range(6):                 # 2.4 s in all, never 1 s quiet
            c.sendall(b"y")
            assert c.recv(10) == b"y"
            time.sleep(0.4)


def test_backend_down_goes_to_the_next(gatehouse, backends):
    b = backends("echo")
    port, s = stream_cfg([dead_address(), b.address])
    gh = start(gatehouse, [s])
    for _ in range(4):                     # round robin meets the dead one first or second
        assert echo_once(port) == b"ping"
    assert b.accepted == 4
    assert "connect failed" in gh.stderr()


def test_all_backends_down_closes_the_client_promptly(gatehouse):
    port, s = stream_cfg([dead_address(), dead_address()])
    gh = start(gatehouse, [s])
    with dial(port) as c:
        t0 = time.monotonic()
        assert closed_by_peer(c, timeout=3)
        assert time.monotonic() - t0 < 1.5 * SLOW
    assert wait_until(lambda: stream_records(gh), 3)
    rec = stream_records(gh)[-1]
    assert rec["end"] == "no_backend" and rec["backend"] == "", rec


def test_connect_timeout_moves_on(gatehouse, backends):
    # A listener that never accepts, its queue filled: further SYNs are
    # dropped, so a connect to it hangs until our timeout.
    hole = socket.socket()
    hole.bind((HOST, 0))
    hole.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(hole.getsockname())
        fillers.append(f)
    time.sleep(0.2)
    try:
        b = backends("echo")
        port, s = stream_cfg([f"{HOST}:{hole.getsockname()[1]}", b.address],
                             timeouts={"connect": "300ms"})
        gh = start(gatehouse, [s])
        t0 = time.monotonic()
        for _ in range(2):                 # round robin meets the hole once
            assert echo_once(port) == b"ping"
        assert time.monotonic() - t0 < 3 * SLOW
        assert "connect timeout" in gh.stderr(), gh.stderr()
    finally:
        for f in fillers:
            f.close()
        hole.close()


def test_health_check_takes_a_backend_out(gatehouse, backends):
    a, b = backends("name", "a"), backends("name", "b")
    port, s = stream_cfg([a.address, b.address],
                         health_check={"interval": "200ms", "timeout": "200ms", "unhealthy": 1,
                                       "healthy": 1})
    gh = start(gatehouse, [s])
    assert {first_line(port) for _ in range(2)} == {"a", "b"}
    a.stop()                              # refused from now on
    time.sleep(1.0)                       # no traffic: only the checker can notice
    # Marked down by the checker: every connection goes to b, and no
    # connect to a is even tried (a passive failure would be logged).
    assert {first_line(port) for _ in range(6)} == {"b"}
    err = gh.stderr()
    assert f"backend {a.address}: connect" not in err, err
    assert re.search(rf"backend {re.escape(a.address)} \(route stream [^)]*\) is DOWN", err), err


def first_line(port):
    with dial(port) as c:
        got = b""
        while not got.endswith(b"\n"):
            d = c.recv(100)
            if not d:
                break
            got += d
        return got.decode().strip()


def test_round_robin_over_two_backends(gatehouse, backends):
    a, b = backends("name", "a"), backends("name", "b")
    port, s = stream_cfg([a.address, b.address], balance="round_robin")
    start(gatehouse, [s])
    names = [first_line(port) for _ in range(6)]
    assert sorted(names) == ["a"] * 3 + ["b"] * 3, names
    assert all(names[i] != names[i + 1] for i in range(5)), names


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxy_protocol_out(gatehouse, backends, version):
    b = backends("header")
    port, s = stream_cfg([b.address], proxy_protocol=version)
    start(gatehouse, [s])
    with dial(port) as c:
        cport = c.getsockname()[1]
        c.sendall(b"after the header")
        got = b""
        while len(got) < 16:
            got += c.recv(100)
    assert got == b"after the header"
    assert wait_until(lambda: b.headers, 3)
    if version == "v1":
        want = f"PROXY TCP4 127.0.0.1 127.0.0.1 {cport} {port}\r\n".encode()
    else:
        want = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" + struct.pack("!H", 12) +
                socket.inet_aton("127.0.0.1") + socket.inet_aton("127.0.0.1") +
                struct.pack("!HH", cport, port))
    assert b.headers[0] == want


def test_reload_adds_and_removes_stream_listeners(gatehouse, backends):
    b = backends("echo")
    port1, s1 = stream_cfg([b.address])
    gh = start(gatehouse, [s1])
    assert echo_once(port1) == b"ping"
    held = dial(port1)                     # a connection across the reload
    held.sendall(b"1")
    assert held.recv(10) == b"1"
    port2, s2 = stream_cfg([b.address])
    text = gh.config_text.replace(f"{HOST}:{port1}", f"{HOST}:{port2}")
    assert f"{HOST}:{port2}" in text
    gh.config_path.write_text(text)
    before = gh.stderr().count("configuration reloaded")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: gh.stderr().count("configuration reloaded") > before, 5), gh.stderr()
    assert f"listening on {HOST}:{port2} (stream)" in gh.stderr()
    assert echo_once(port2) == b"ping"
    with pytest.raises(OSError):
        dial(port1, timeout=2).close()
    held.sendall(b"2")                     # the old connection runs on
    assert held.recv(10) == b"2"
    held.close()


def test_stream_and_http_in_one_process(gatehouse, backends, origin):
    b = backends("echo")
    o = origin()
    port, s = stream_cfg([b.address])
    gh = gatehouse({"server": {"workers": 2, "reverse_proxy": [route(o)]}, "streams": [s]})
    assert echo_once(port, b"tcp") == b"tcp"
    r = http_request(gh.port, "GET", "/hello")
    assert r.status == 200
    assert echo_once(port, b"again") == b"again"
    assert f"listening on {HOST}:{port} (stream)" in gh.stderr()


def test_shutdown_ends_open_streams_at_the_drain_deadline(gatehouse, backends):
    b = backends("echo")
    port, s = stream_cfg([b.address])
    gh = start(gatehouse, [s], timeouts={"shutdown_drain": "1s"})
    c = dial(port)
    c.sendall(b"z")
    assert c.recv(10) == b"z"
    t0 = time.monotonic()
    gh.signal(signal.SIGTERM)
    assert closed_by_peer(c, timeout=5 * SLOW)
    assert time.monotonic() - t0 < 3 * SLOW
    c.close()
    assert gh.wait_exit(5) == 0


def test_streams_count_toward_max_connections(gatehouse, backends):
    b = backends("echo")
    port, s = stream_cfg([b.address])
    start(gatehouse, [s], limits={"max_connections": 2})
    first = [dial(port) for _ in range(2)]
    for c in first:
        c.sendall(b"a")
        assert c.recv(10) == b"a"
    third = dial(port)                     # in the backlog: not served while two are open
    third.sendall(b"b")
    third.settimeout(1.0)
    with pytest.raises(socket.timeout):
        third.recv(10)
    first[0].close()                       # a slot frees: the third is served
    third.settimeout(5.0)
    assert third.recv(10) == b"b"
    for c in (first[1], third):
        c.close()


@pytest.mark.deadline(90)
def test_idle_stream_connections_are_cheap(gatehouse, backends):
    """An idle stream connection holds no pipe and no buffer: its sockets,
    the relay and the coroutine frames (measured 6.6 KiB of RSS each)."""
    if SANITIZED:
        pytest.skip("RSS under the sanitizers is theirs, not gatehouse's")
    b = backends("echo")
    port, s = stream_cfg([b.address])
    gh = start(gatehouse, [s], access_log="off")
    warm = []
    for _ in range(50):
        c = dial(port)
        c.sendall(b"w")
        warm.append(c)
    assert wait_until(lambda: b.accepted >= 50, 5)
    time.sleep(0.5)
    before = gh.rss_kib()
    n = 1000
    conns = []
    try:
        for _ in range(n):
            c = dial(port)
            c.sendall(b"hello")            # bytes went through: each relay spliced once
            conns.append(c)
        assert wait_until(lambda: b.accepted >= 50 + n, 20)
        for c in conns[-10:]:
            assert c.recv(10) == b"hello"
        time.sleep(1.0)
        per_conn = (gh.rss_kib() - before) / n
        assert per_conn < 10, f"{per_conn:.2f} KiB of RSS per idle stream connection"
    finally:
        for c in conns + warm:
            c.close()
