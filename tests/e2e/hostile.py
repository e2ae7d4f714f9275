"""Shared pieces of the hostile e2e suites (smuggling, slow clients, broken
backends, overload).

- strict_parse_requests: a deliberately unforgiving HTTP/1.1 request parser for
  what a backend received from the proxy: one clean reading or an error.
- parse_responses / collect: what a client received, split into responses.
- RawBackend: a threaded raw server whose behaviour per request is a Python
  function (partial heads, resets, garbage, stalls, counted concurrency).
- process helpers: CPU time, RSS and open descriptors of a pid, raising the
  file-descriptor limit, starting gatehouse with a custom rlimit.
"""

import contextlib
import os
import re
import resource
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import helpers
from helpers import HOST, SockReader

# --------------------------------------------------------------------------
# A strict request parser for the backend side

TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
REQUEST_LINE_RE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/1\.([01])")
HEX = frozenset(b"0123456789abcdefABCDEF")


class StrictError(Exception):
    """What the backend received cannot be read in exactly one way."""


class Incomplete(StrictError):
    """The bytes stop in the middle of a request."""


class StrictRequest:
    def __init__(self, method, target, minor, headers, body, framing, raw):
        self.method = method
        self.target = target
        self.minor = minor
        self.headers = headers          # [(name, value)] as bytes, name case kept
        self.body = body
        self.framing = framing          # "none" | "content-length" | "chunked"
        self.raw = raw

    def values(self, name):
        name = name.lower().encode() if isinstance(name, str) else name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def __repr__(self):
        return (f"<StrictRequest {self.method.decode()} {self.target.decode()} "
                f"framing={self.framing} body={self.body[:60]!r}>")


def _check_field_line(line, where):
    if b"\r" in line or b"\n" in line:
        raise StrictError(f"bare CR or LF in {where}: {line[:80]!r}")
    if not line or line[:1] in (b" ", b"\t"):
        raise StrictError(f"empty or folded field line in {where}: {line[:80]!r}")
    name, colon, value = line.partition(b":")
    if not colon or not name or any(c not in TCHAR for c in name):
        raise StrictError(f"bad field name in {where}: {line[:80]!r}")
    value = value.strip(b" \t")
    for c in value:
        if c < 0x20 and c != 0x09 or c == 0x7F:
            raise StrictError(f"control byte {c:#x} in field value in {where}: {line[:80]!r}")
    return name, value


def _parse_chunked(buf, pos):
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise Incomplete("chunk-size line incomplete")
        line = buf[pos:eol]
        if b"\n" in line or b"\r" in line:
            raise StrictError(f"bare CR/LF in chunk-size line {line!r}")
        size_part, semi, ext = line.partition(b";")
        if not size_part or len(size_part) > 16 or any(c not in HEX for c in size_part):
            raise StrictError(f"bad chunk size {line!r}")
        if semi:
            for item in ext.split(b";"):
                n, _, v = item.strip(b" \t").partition(b"=")
                if not n or any(c not in TCHAR for c in n):
                    raise StrictError(f"bad chunk extension {line!r}")
                if v and not (all(c in TCHAR for c in v) or re.fullmatch(rb'"[^"\\\x00-\x1f]*"', v)):
                    raise StrictError(f"bad chunk extension value {line!r}")
        size = int(size_part, 16)
        pos = eol + 2
        if size == 0:
            break
        if len(buf) < pos + size + 2:
            raise Incomplete("chunk data incomplete")
        body += buf[pos:pos + size]
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise StrictError("chunk data not followed by CRLF")
        pos += size + 2
    while True:  # trailer section
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise Incomplete("trailer section incomplete")
        line = buf[pos:eol]
        pos = eol + 2
        if not line:
            return bytes(body), pos
        _check_field_line(line, "trailer")


def strict_parse_request(buf, pos=0):
    """One request at buf[pos:]; returns (StrictRequest, end position).
    Raises StrictError when the bytes are not exactly one well-framed
    HTTP/1.1 request (CRLF only, token names, no folding, no CTLs, one Host,
    CL-only or chunked-only framing with a plain decimal length)."""
    end = buf.find(b"\r\n\r\n", pos)
    if end < 0:
        if len(buf) - pos > 256 * 1024:
            raise StrictError("head longer than 256 KiB")
        raise Incomplete("head incomplete")
    head = buf[pos:end]
    lines = head.split(b"\r\n")
    m = REQUEST_LINE_RE.fullmatch(lines[0])
    if not m:
        raise StrictError(f"bad request line {lines[0][:120]!r}")
    headers = [_check_field_line(line, "head") for line in lines[1:]]
    names = [n.lower() for n, _ in headers]
    if names.count(b"host") != 1:
        raise StrictError(f"{names.count(b'host')} Host fields")
    cls = [v for n, v in headers if n.lower() == b"content-length"]
    tes = [v for n, v in headers if n.lower() == b"transfer-encoding"]
    body_start = end + 4
    if cls and tes:
        raise StrictError("both Content-Length and Transfer-Encoding")
    if len(cls) > 1:
        raise StrictError("several Content-Length fields")
    if len(tes) > 1:
        raise StrictError("several Transfer-Encoding fields")
    if tes:
        if tes[0].lower() != b"chunked":
            raise StrictError(f"Transfer-Encoding {tes[0]!r} is not plain chunked")
        body, stop = _parse_chunked(buf, body_start)
        framing = "chunked"
    elif cls:
        if not re.fullmatch(rb"[0-9]{1,18}", cls[0]):
            raise StrictError(f"bad Content-Length {cls[0]!r}")
        n = int(cls[0])
        if len(buf) < body_start + n:
            raise Incomplete(f"body incomplete ({len(buf) - body_start} of {n})")
        body, stop, framing = buf[body_start:body_start + n], body_start + n, "content-length"
    else:
        body, stop, framing = b"", body_start, "none"
    req = StrictRequest(m.group(1), m.group(2), int(m.group(3)), headers, bytes(body), framing,
                        bytes(buf[pos:stop]))
    return req, stop


def strict_parse_requests(buf):
    """All requests in buf, which must end exactly at a request boundary."""
    out = []
    pos = 0
    while pos < len(buf):
        req, pos = strict_parse_request(buf, pos)
        out.append(req)
    return out


# --------------------------------------------------------------------------
# The client side: collecting and splitting responses


def collect(sock, idle=0.4, total=5.0, until_eof_after_error=2.0):
    """Reads until EOF/reset, or until `idle` seconds pass without data once at
    least one complete response arrived (longer, `until_eof_after_error`, when
    the last one is a proxy error, which must be followed by a close), or
    `total` seconds. Returns (data, closed)."""
    data = bytearray()
    deadline = time.monotonic() + total
    last = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline:
            return bytes(data), False
        resps, _, _ = parse_responses(bytes(data))
        if resps:
            wait = until_eof_after_error if resps[-1].status >= 400 else idle
            if now - last >= wait:
                return bytes(data), False
        r, _, _ = select.select([sock], [], [], min(0.05, deadline - now))
        if not r:
            continue
        try:
            d = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data), True
        except socket.timeout:
            continue
        if not d:
            return bytes(data), True
        data += d
        last = time.monotonic()


def parse_responses(data):
    """Splits raw bytes into complete responses (Content-Length or chunked
    framed; 1xx skipped). Returns (responses, leftover bytes, trouble) where
    trouble names anything that could not be framed."""
    out = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return out, data[pos:], None
        start, headers = helpers.parse_head(data[pos:end + 4])
        resp = helpers.Response(start, headers, raw_head=data[pos:end + 4])
        body_start = end + 4
        if 100 <= resp.status < 200:
            pos = body_start
            continue
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if "chunked" in te:
            try:
                body, stop = _parse_chunked(data, body_start)
            except Incomplete:
                return out, data[pos:], None
            except StrictError as e:
                return out, data[pos:], f"bad chunked response: {e}"
        elif cl is not None and cl.isdigit():
            n = int(cl)
            if len(data) < body_start + n:
                return out, data[pos:], None
            body, stop = data[body_start:body_start + n], body_start + n
        elif resp.status in (204, 304):
            body, stop = b"", body_start
        else:
            return out, data[pos:], "response without length"
        resp.body = bytes(body)
        out.append(resp)
        pos = stop
    return out, b"", None


def proxy_status(resp):
    return ", ".join(resp.headers_all("proxy-status"))


def is_proxy_error(resp, status=None, errors=None):
    """True when resp is gatehouse's own failure answer (with the status and
    one of the error names, when given)."""
    ps = proxy_status(resp)
    if "gatehouse" not in ps:
        return False
    if status is not None and resp.status != status:
        return False
    if errors is not None:
        if isinstance(errors, str):
            errors = [errors]
        return any(f"error={e}" in ps for e in errors)
    return True


def wait_closed(sock, timeout):
    """True when the peer closes (EOF or reset) within timeout; data is discarded."""
    return helpers.closed_by_peer(sock, timeout)


# --------------------------------------------------------------------------
# A raw backend driven by a Python function


class RawConn:
    """One accepted backend connection."""

    def __init__(self, backend, sock, peer, index):
        self.backend = backend
        self.sock = sock
        self.peer = peer
        self.index = index
        self.data = bytearray()          # every byte received
        self.requests = []               # helpers.Request, in order
        self.reader = SockReader(sock, record=self.data)
        self.closed = threading.Event()

    def read_request(self):
        """The next request (head and body), or None at EOF between requests."""
        try:
            raw = self.reader.read_until(b"\r\n\r\n")
        except (EOFError, ConnectionResetError):
            if self.reader.buf:
                raise
            return None
        start, headers = helpers.parse_head(raw)
        req = helpers.Request(start, headers, raw_head=raw)
        if "chunked" in (req.header("transfer-encoding") or "").lower():
            req.body = helpers.read_chunked(self.reader)
        else:
            n = int(req.header("content-length") or 0)
            req.body = self.reader.read_exact(n) if n else b""
        self.requests.append(req)
        self.backend._note_request(req, self)
        return req

    def send(self, data):
        self.sock.sendall(data)

    def reset(self):
        """Closes with an RST (SO_LINGER 0)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))
        with contextlib.suppress(OSError):
            self.sock.close()

    def hold(self, seconds=None):
        """Keeps the connection open, reading and discarding, until the peer
        closes, the backend stops, or `seconds` pass."""
        deadline = None if seconds is None else time.monotonic() + seconds
        self.sock.settimeout(0.1)
        try:
            while not self.backend.stopping.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    return
                try:
                    d = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    return
                self.data += d
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                self.sock.settimeout(30)


class RawBackend:
    """A threaded raw HTTP/1.1 backend. `handler(conn, req)` answers one request
    and returns True to read the next one on the same connection, False to
    close it (it may also have reset or held the connection itself)."""

    def __init__(self, handler, backlog=1024):
        self.handler = handler
        self.connections = []
        self.requests = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(backlog)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def _note_request(self, req, conn):
        with self._lock:
            self.requests.append((conn.index, req))

    @contextlib.contextmanager
    def busy(self):
        """Counts a request in progress (for concurrency limits)."""
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                sock, peer = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(30)
            with self._lock:
                conn = RawConn(self, sock, peer, len(self.connections))
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            while not self.stopping.is_set():
                req = conn.read_request()
                if req is None or not self.handler(conn, req):
                    return
        except (EOFError, OSError, ValueError):
            return
        finally:
            conn.closed.set()
            with contextlib.suppress(OSError):
                conn.sock.close()

    def wait_requests(self, n, timeout=5.0):
        ok = helpers.wait_until(lambda: len(self.requests) >= n, timeout)
        assert ok, f"backend saw {len(self.requests)} requests, wanted {n}"

    def stop(self):
        helpers.stop_server_thread(self.stopping, self.listener, self._lock,
                                   lambda: [c.sock for c in self.connections], self._thread)


def response_bytes(status=200, body=b"", headers=(), reason="OK"):
    return helpers.canned(status, headers, body, reason=reason)


# --------------------------------------------------------------------------
# Processes


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process (all threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


rss_kib = helpers.rss_kib


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


@contextlib.contextmanager
def nofile_limit(wanted):
    """Raises this process's soft RLIMIT_NOFILE to `wanted` (capped by the hard
    limit) for the block; children started inside inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, new), hard))
    try:
        yield resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class LimitedGatehouse:
    """gatehouse started by hand with its own RLIMIT_NOFILE (the fixture cannot
    set rlimits). Use as a context manager; stop() reports a crash."""

    def __init__(self, config, workdir, nofile):
        cfg = dict(config)
        server = cfg.setdefault("server", {})
        server.setdefault("host", HOST)
        server.setdefault("port", helpers.free_port())
        self.port = server["port"]
        self.workdir = Path(workdir)
        self.config_path = self.workdir / "gatehouse-limited.yaml"
        self.config_path.write_text(helpers.to_yaml(cfg) + "\n")
        self.out_path = self.workdir / "gatehouse-limited.out"
        self._out = open(self.out_path, "wb")

        def preexec():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            helpers._die_with_parent()

        env = dict(os.environ)
        self.proc = subprocess.Popen([str(helpers.GATEHOUSE), "run", "-c", str(self.config_path)],
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(self.workdir),
                                     preexec_fn=preexec, env=env)
        self.pid = self.proc.pid
        ok = helpers.wait_until(lambda: "listening on" in self.logs() or self.proc.poll() is not None,
                                10.0)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise helpers.ProcessError(f"gatehouse did not start:\n{self.logs()[-3000:]}")

    def logs(self):
        if not self._out.closed:
            self._out.flush()
        return self.out_path.read_bytes().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; returns the exit code (negative: killed by that signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "did not exit within 15 s of SIGTERM"
        if not self._out.closed:
            self._out.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()
        elif not self._out.closed:
            self._out.close()
