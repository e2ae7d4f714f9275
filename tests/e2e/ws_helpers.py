"""WebSocket building blocks for the end-to-end tests.

RFC 6455 framing over raw sockets (so tests can send and check exact bytes),
raw client handshakes, and ScriptedWsBackend: a raw-socket WebSocket server
whose behaviour after the handshake is a Python function (close first with a
code, reset the TCP connection, half-close, push frames, ...).
"""

import base64
import hashlib
import os
import socket
import struct
import threading
import time

import helpers
from helpers import Request, SockReader, build_request, parse_head

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def accept_for(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


# --------------------------------------------------------------------------
# Framing


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One frame. Clients mask (mask=True), servers do not."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _xor(payload, key)


def _xor(data, key):
    if not data:
        return b""
    k = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(len(data), "big")


def close_payload(code=None, reason=""):
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")


def parse_close(payload):
    """Close frame payload -> (code or None, reason)."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


class Frame:
    def __init__(self, fin, opcode, payload, masked, raw):
        self.fin = fin
        self.opcode = opcode
        self.payload = payload  # unmasked
        self.masked = masked
        self.raw = raw          # the bytes as they arrived

    def __repr__(self):
        return (f"<Frame fin={self.fin} op={self.opcode} masked={self.masked} "
                f"len={len(self.payload)} {self.payload[:40]!r}>")


def read_frame(reader):
    """Reads one frame from a helpers.SockReader."""
    h = reader.read_exact(2)
    raw = bytearray(h)
    fin = bool(h[0] & 0x80)
    opcode = h[0] & 0x0F
    masked = bool(h[1] & 0x80)
    n = h[1] & 0x7F
    if n == 126:
        ext = reader.read_exact(2)
        raw += ext
        n = struct.unpack("!H", ext)[0]
    elif n == 127:
        ext = reader.read_exact(8)
        raw += ext
        n = struct.unpack("!Q", ext)[0]
    key = b""
    if masked:
        key = reader.read_exact(4)
        raw += key
    data = reader.read_exact(n)
    raw += data
    payload = _xor(data, key) if masked else data
    return Frame(fin, opcode, payload, masked, bytes(raw))


# --------------------------------------------------------------------------
# Raw client


def upgrade_request(target="/ws", key=None, host="example.test", extra=(), upgrade="websocket",
                    connection="Upgrade"):
    key = key or new_key()
    headers = [("Upgrade", upgrade), ("Connection", connection),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"), *extra]
    return build_request("GET", target, headers=headers, host=host)


class RawWs(helpers.OwnsSocket):
    """A raw client-side WebSocket (after a checked 101) over a blocking socket."""

    def __init__(self, sock, reader, response, key):
        self.sock = sock
        self.reader = reader
        self.response = response
        self.key = key

    def send(self, opcode, payload=b"", fin=True):
        self.sock.sendall(encode_frame(opcode, payload, fin=fin, mask=True))

    def recv(self, timeout=5.0):
        self.sock.settimeout(timeout)
        return read_frame(self.reader)


def raw_ws_connect(port, target="/ws/raw", timeout=5.0, extra=()):
    """Connects, upgrades, checks the 101 (status and accept); returns RawWs."""
    key = new_key()
    sock = helpers.connect(port, timeout)
    try:
        sock.sendall(upgrade_request(target, key=key, extra=extra))
        reader = SockReader(sock)
        resp = helpers.read_response(reader)
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == accept_for(key), resp
        assert "websocket" in (resp.header("upgrade") or "").lower(), resp
    except BaseException:
        sock.close()
        raise
    return RawWs(sock, reader, resp, key)


def set_reset_on_close(sock):
    """close() then sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# --------------------------------------------------------------------------
# Scripted backend


class WsBackendConn:
    """One accepted backend connection after the handshake; given to the script."""

    def __init__(self, sock, reader, request):
        self.sock = sock
        self.reader = reader
        self.request = request
        self.result = {}            # the script's findings, read by the test
        self.error = None           # an exception the script raised
        self.done = threading.Event()
        self.closed = False

    def send(self, opcode, payload=b"", fin=True):
        self.sock.sendall(encode_frame(opcode, payload, fin=fin, mask=False))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=5.0):
        self.sock.settimeout(timeout)
        return read_frame(self.reader)

    def recv_exact(self, n, timeout=5.0):
        self.sock.settimeout(timeout)
        return self.reader.read_exact(n)

    def send_close(self, code=None, reason=""):
        self.send(OP_CLOSE, close_payload(code, reason))

    def wait_eof(self, timeout=5.0):
        """Reads until EOF or reset; returns ('eof'|'reset', time.monotonic(),
        extra bytes) or (None, None, bytes) on timeout."""
        deadline = time.monotonic() + timeout
        extra = bytearray(self.reader.buf)
        self.reader.buf.clear()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None, bytes(extra)
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return None, None, bytes(extra)
            except ConnectionResetError:
                return "reset", time.monotonic(), bytes(extra)
            if not d:
                return "eof", time.monotonic(), bytes(extra)
            extra += d

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self):
        set_reset_on_close(self.sock)
        self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


class ScriptedWsBackend:
    """A raw WebSocket backend. For each connection it reads the request head,
    answers the upgrade (101 with the correct Sec-WebSocket-Accept unless
    `accept` says otherwise; `extra_headers` are added to the 101), then runs
    script(conn) in the connection's thread and closes the socket afterwards.
    """

    def __init__(self, script, accept="auto", extra_headers=()):
        self.script = script
        self.accept = accept
        self.extra_headers = list(extra_headers)
        self.conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.listener = helpers.local_listener(256)
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        for sock in helpers.accepted(self.listener, self._stop):
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(10.0)
        reader = SockReader(sock)
        try:
            raw = reader.read_until(b"\r\n\r\n")
        except (OSError, EOFError, ValueError):
            sock.close()
            return
        start, headers = parse_head(raw)
        req = Request(start, headers, raw_head=raw)
        conn = WsBackendConn(sock, reader, req)
        with self._lock:
            self.conns.append(conn)
        try:
            key = req.header("sec-websocket-key") or ""
            accept = accept_for(key) if self.accept == "auto" else self.accept
            lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                     "Connection: Upgrade"]
            if accept is not None:
                lines.append(f"Sec-WebSocket-Accept: {accept}")
            lines += [f"{n}: {v}" for n, v in self.extra_headers]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self.script(conn)
        except BaseException as e:  # reported to the test through conn.error
            conn.error = e
        finally:
            conn.close()
            conn.done.set()

    def wait_conn(self, n=1, timeout=5.0):
        """The n-th connection (1-based) once it has arrived."""
        ok = helpers.wait_until(lambda: len(self.conns) >= n, timeout)
        assert ok, f"backend saw {len(self.conns)} connections, wanted {n}"
        return self.conns[n - 1]

    def stop(self):
        helpers.stop_server_thread(self._stop, self.listener, self._lock,
                                   lambda: [c.sock for c in self.conns], self._thread)


def finished(conn, timeout=5.0):
    """Waits for a scripted connection to finish; re-raises the script's error."""
    assert conn.done.wait(timeout), "backend script did not finish in time"
    if conn.error is not None:
        raise AssertionError(f"backend script failed: {conn.error!r}") from conn.error
    return conn.result
