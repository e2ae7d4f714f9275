"""Building blocks for gatehouse's end-to-end tests.

Processes (gatehouse, demo-origin), a raw capture backend, and a minimal raw
HTTP/1.1 client, so tests can see and send exact bytes. The fixtures in
conftest.py wrap these with automatic teardown.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GATEHOUSE_BUILD", REPO / "build")).resolve()
GATEHOUSE = BUILD / "gatehouse"
DEMO_ORIGIN = BUILD / "demo-origin"
HOST = "127.0.0.1"

LISTENING_RE = re.compile(r"listening on (\S+):(\d+) \((http|https|admin|stream)\)")


def local_listener(backlog=128):
    """A TCP socket listening on a free port of HOST, with a 0.2 s accept
    timeout (accept loops poll their stop flag): the test servers' one way
    of opening their port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(backlog)
    sock.settimeout(0.2)
    return sock


def accepted(listener, stop):
    """The sockets `listener` (a local_listener) accepts, until the event
    `stop` is set or the listener is closed."""
    while not stop.is_set():
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        yield sock


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out by free_port() come from below the kernel's ephemeral
# range, in a block of their own per pytest-xdist worker: a port taken from
# the ephemeral range (bind to 0, close, bind again later) can meanwhile
# become the local port of any outgoing connection, and the load tests open
# thousands; and two workers must never be handed the same port.
_PORT_BLOCK = 1500
_EPHEMERAL_LOW = _ephemeral_low()
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_worker_n = int(_worker[2:]) if _worker[2:].isdigit() else 0
_block_low = 10000 + _worker_n * _PORT_BLOCK
_next_port = [_block_low + os.getpid() % _PORT_BLOCK]


def free_port():
    """A port that was free a moment ago and that no outgoing connection or
    other test worker will take meanwhile (see _PORT_BLOCK); a port another
    process binds in that moment is still possible, so tests that can use
    port 0 should."""
    if _block_low + _PORT_BLOCK > _EPHEMERAL_LOW:   # an unusual range: the old way
        with socket.socket() as s:
            s.bind((HOST, 0))
            return s.getsockname()[1]
    for _ in range(_PORT_BLOCK):
        port = _next_port[0]
        _next_port[0] = _block_low + (port + 1 - _block_low) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind((HOST, port))   # no SO_REUSEADDR: a port in TIME_WAIT is passed over
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {_block_low}-{_block_low + _PORT_BLOCK - 1}")


def wait_until(pred, timeout=5.0, interval=0.02):
    """Polls pred() until it returns a truthy value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# Raw HTTP/1.1 reading and writing


class SockReader:
    """Buffered reads from a socket; optionally records every byte received."""

    def __init__(self, sock, record=None):
        self.sock = sock
        self.buf = bytearray()
        self.record = record

    def _more(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            raise EOFError("connection closed")
        if self.record is not None:
            self.record += data
        self.buf += data

    def read_until(self, delim, limit=1 << 20):
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                out = bytes(self.buf[: i + len(delim)])
                del self.buf[: i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise ValueError("line or head too long")
            start = max(0, len(self.buf) - len(delim) + 1)
            self._more()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._more()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def discard(self, n, chunk=1 << 20):
        """Skips n bytes without keeping them; returns how many were read."""
        done = min(n, len(self.buf))
        del self.buf[:done]
        view = bytearray(chunk)
        while done < n:
            got = self.sock.recv_into(view, min(chunk, n - done))
            if not got:
                raise EOFError(f"connection closed after {done} of {n} bytes")
            done += got
        return done

    def read_to_eof(self):
        try:
            while True:
                self._more()
        except (EOFError, ConnectionResetError):
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out


class Message:
    """A parsed HTTP/1.x message head plus body."""

    def __init__(self, start_line, headers, body=b"", raw_head=b""):
        self.start_line = start_line
        self.headers = headers  # [(name, value)] in arrival order, case kept
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return default

    def headers_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def has(self, name):
        return bool(self.headers_all(name))

    def names(self):
        return [n.lower() for n, _ in self.headers]


class Request(Message):
    def __init__(self, start_line, headers, body=b"", raw_head=b""):
        super().__init__(start_line, headers, body, raw_head)
        parts = start_line.split(" ")
        self.method, self.target, self.version = (parts + ["", "", ""])[:3]

    @property
    def raw(self):
        return self.raw_head + self.body


class Response(Message):
    def __init__(self, start_line, headers, body=b"", raw_head=b""):
        super().__init__(start_line, headers, body, raw_head)
        parts = start_line.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.reason = parts[2] if len(parts) > 2 else ""

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} body={self.body[:200]!r}>"


def parse_head(raw):
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    start = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name, value.strip(" \t")))
    return start, headers


def read_chunked(reader, sink=None):
    """Reads a chunked body; returns it (or its length when sink discards)."""
    out = bytearray()
    total = 0
    while True:
        line = reader.read_until(b"\r\n").decode("latin-1")
        size = int(line.split(";")[0].strip(), 16)
        if size == 0:
            break
        if sink == "discard":
            reader.discard(size)
        else:
            out += reader.read_exact(size)
        total += size
        reader.read_exact(2)
    while reader.read_until(b"\r\n") != b"\r\n":  # trailers
        pass
    return total if sink == "discard" else bytes(out)


def read_response(reader, method="GET", skip_interim=True, discard_body=False):
    """Reads one response. With discard_body, .body is empty and .body_len
    holds the byte count (for huge downloads)."""
    while True:
        raw = reader.read_until(b"\r\n\r\n")
        start, headers = parse_head(raw)
        resp = Response(start, headers, raw_head=raw)
        if skip_interim and 100 <= resp.status < 200 and resp.status != 101:
            continue
        break
    resp.body_len = 0
    no_body = method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
    te = resp.header("transfer-encoding", "")
    cl = resp.header("content-length")
    if no_body:
        pass
    elif "chunked" in te.lower():
        got = read_chunked(reader, "discard" if discard_body else None)
        if discard_body:
            resp.body_len = got
        else:
            resp.body = got
    elif cl is not None:
        n = int(cl)
        if discard_body:
            resp.body_len = reader.discard(n)
        else:
            resp.body = reader.read_exact(n)
    else:
        resp.body = reader.read_to_eof()
    if not discard_body:
        resp.body_len = len(resp.body)
    return resp


def connect(port, timeout=10.0, host=HOST):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def build_request(method="GET", target="/", headers=None, body=b"", host="example.test",
                  version="HTTP/1.1"):
    """Request bytes. headers: list of (name, value) or dict; Content-Length is
    added for a non-empty body unless a framing header is given."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {n.lower() for n, _ in headers}
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def http_request(port, method="GET", target="/", headers=None, body=b"", host="example.test",
                 timeout=10.0):
    """One request on a fresh connection; returns the Response."""
    with connect(port, timeout) as s:
        s.sendall(build_request(method, target, headers, body, host))
        return read_response(SockReader(s), method)


def raw_exchange(port, data, timeout=5.0):
    """Sends raw bytes and returns everything received until close or timeout."""
    with connect(port, timeout) as s:
        s.sendall(data)
        out = bytearray()
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except (socket.timeout, ConnectionResetError):
            pass
        return bytes(out)


def parse_raw_response(data):
    """Parses the first response in raw bytes (body by Content-Length)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    start, headers = parse_head(head + sep)
    resp = Response(start, headers, raw_head=head + sep)
    cl = resp.header("content-length")
    resp.body = rest[: int(cl)] if cl is not None else rest
    return resp


def closed_by_peer(sock, timeout=3.0):
    """True when the peer closes (EOF or reset) within timeout, after any
    buffered data."""
    sock.settimeout(timeout)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# --------------------------------------------------------------------------
# Processes


class ProcessError(AssertionError):
    pass


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the test process dies, so an
    interrupted run leaves no servers behind (Linux only; harmless elsewhere)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Origin:
    """A demo-origin process on a port it picked itself (--port 0)."""

    def __init__(self, name=None, threads=1, port=0, log_dir=None):
        args = [str(DEMO_ORIGIN), "--port", str(port), "--host", HOST, "--threads", str(threads)]
        if name:
            args += ["--name", name]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True,
                                     preexec_fn=_die_with_parent)
        line = self._ready_line(10.0)
        m = re.match(r"demo-origin (\S+) listening on (\S+):(\d+)$", line.strip())
        if not m:
            self.proc.kill()
            raise ProcessError(f"demo-origin did not start: {line!r}")
        self.name = m.group(1)
        self.port = int(m.group(3))
        self.pid = self.proc.pid

    def _ready_line(self, timeout):
        result = []
        t = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        return result[0] if result else ""

    def url(self, path="/"):
        return f"http://{HOST}:{self.port}{path}"

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def to_yaml(value, indent=0):
    """A small block-style YAML writer for test configs (dicts, lists, scalars),
    so tests need no YAML library."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:\n{to_yaml(v, indent + 1)}")
            else:
                lines.append(f"{pad}{k}: {to_yaml(v)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {body.lstrip()}")
            elif isinstance(item, list) and item:
                lines.append(f"{pad}-\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}- {to_yaml(item)}")
        return "\n".join(lines)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def route(port_or_origin, path="/", host=HOST, **extra):
    """One reverse_proxy entry pointing at a demo origin, capture backend or port."""
    port = getattr(port_or_origin, "port", port_or_origin)
    r = {"path": path, "host": host, "port": port}
    r.update(extra)
    return r


def _expected_listeners(cfg):
    """(port, kind) pairs a config should announce, from a parsed config."""
    server = cfg.get("server") or {}
    ssl = cfg.get("ssl") or {}
    out = []
    port = int(server.get("port", 8080))
    tls = bool(ssl.get("enabled", False))
    if tls and "port" in ssl:
        out += [(port, "http"), (int(ssl["port"]), "https")]
    elif tls:
        out.append((port, "https"))
    else:
        out.append((port, "http"))
    admin = cfg.get("admin") or {}
    if admin.get("enabled"):
        out.append((int(admin.get("port", 9901)), "admin"))
    for s in cfg.get("streams") or []:
        if isinstance(s, dict) and "listen" in s:
            out.append((int(str(s["listen"]).rsplit(":", 1)[1]), "stream"))
    return out


def _parse_yaml_text(text):
    try:
        import yaml  # optional: only to learn the listeners of a text config
    except ImportError:
        return None
    try:
        return yaml.safe_load(text)
    except Exception:
        return None


def rss_kib(pid):
    """Resident set size of a process from /proc (KiB), or None when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class OwnsSocket:
    """Mixin for test clients holding `self.sock`: close() ignores errors,
    and `with` closes."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Gatehouse:
    """A running `gatehouse run -c FILE`.

    config: a dict (server.host/port filled in when missing) or YAML text
    (which must name its own free port).
    """

    def __init__(self, config, workdir, cwd=None, ready_timeout=10.0, extra_args=()):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, dict):
            cfg = json.loads(json.dumps(config))  # deep copy
            server = cfg.setdefault("server", {})
            server.setdefault("host", HOST)
            server.setdefault("port", free_port())
            text = to_yaml(cfg) + "\n"
        else:
            text = config
            cfg = _parse_yaml_text(text)
        self.config = cfg
        self.config_text = text
        n = len(list(self.workdir.glob("gatehouse-*.yaml")))
        self.config_path = self.workdir / f"gatehouse-{n}.yaml"
        self.config_path.write_text(text)
        self.stdout_path = self.workdir / f"gatehouse-{n}.stdout"
        self.stderr_path = self.workdir / f"gatehouse-{n}.stderr"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(GATEHOUSE), "run", "-c", str(self.config_path), *extra_args],
            stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
            cwd=str(cwd or self.workdir), preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        self.stopped = False
        self.listeners = {}
        self._wait_ready(ready_timeout)
        http = [p for p, k in self.listeners.items() if k == "http"]
        https = [p for p, k in self.listeners.items() if k == "https"]
        self.port = (http or https or [0])[0]
        self.tls_port = https[0] if https else None

    def _wait_ready(self, timeout):
        expected = set(_expected_listeners(self.config)) if isinstance(self.config, dict) else None
        deadline = time.monotonic() + timeout
        while True:
            found = {(int(m.group(2)), m.group(3)) for m in LISTENING_RE.finditer(self.logs())}
            self.listeners = {p: k for p, k in found}
            if expected is not None and expected <= found:
                return
            if expected is None and found:
                return
            if self.proc.poll() is not None:
                raise ProcessError(
                    f"gatehouse exited with {self.proc.returncode} before it was ready:\n"
                    f"{self.logs()[-4000:]}")
            if time.monotonic() >= deadline:
                self.proc.kill()
                self.proc.wait()
                raise ProcessError(
                    f"gatehouse not ready within {timeout}s (expected {expected}, saw {found}):\n"
                    f"{self.logs()[-4000:]}")
            time.sleep(0.02)

    def url(self, path="/", scheme="http"):
        port = self.tls_port if scheme == "https" and self.tls_port else self.port
        return f"{scheme}://{HOST}:{port}{path}"

    def stdout(self):
        if not self._out.closed:
            self._out.flush()
        return self.stdout_path.read_bytes().decode("utf-8", "replace")

    def stderr(self):
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_bytes().decode("utf-8", "replace")

    def logs(self):
        return self.stdout() + self.stderr()

    def access_log(self, stream="stdout"):
        """JSON access-log records (lines of `stream` that are JSON objects with a status)."""
        text = self.stdout() if stream == "stdout" else self.stderr()
        out = []
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "status" in rec:
                out.append(rec)
        return out

    def rss_kib(self):
        return rss_kib(self.pid)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def drain_seconds(self):
        try:
            text = str(self.config["server"]["timeouts"]["shutdown_drain"])
        except (KeyError, TypeError):
            return 30.0
        m = re.fullmatch(r"(\d+)(ms|s|m|h)", text.strip())
        if not m:
            return 30.0
        mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return int(m.group(1)) * mult

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, expect_code=0):
        """SIGTERM, then asserts the exit code within the drain time (+5 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        timeout = min(self.drain_seconds(), 20.0) + 5.0
        code = self.wait_exit(timeout)
        if code is None:
            self.proc.kill()
            self.proc.wait()
            self._close_files()
            raise ProcessError(f"gatehouse did not exit within {timeout}s of SIGTERM:\n"
                               f"{self.logs()[-4000:]}")
        self.stopped = True
        self._close_files()
        if expect_code is not None and code != expect_code:
            raise ProcessError(f"gatehouse exited with {code}, expected {expect_code}:\n"
                               f"{self.logs()[-4000:]}")
        return code

    def _close_files(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def teardown(self):
        """Stops the process; returns an error text when it crashed (killed by a signal)."""
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            timeout = min(self.drain_seconds(), 20.0) + 5.0
            code = self.wait_exit(timeout)
            if code is None:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                return (f"gatehouse did not exit within {timeout}s of SIGTERM:\n"
                        f"{self.logs()[-4000:]}")
        self._close_files()
        if code < 0:
            return (f"gatehouse crashed with signal {-code}:\n{self.logs()[-4000:]}")
        return None


def run_gatehouse(*args, cwd=None, timeout=20.0):
    """Runs a one-shot gatehouse command; returns CompletedProcess (text)."""
    return subprocess.run([str(GATEHOUSE), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# Capture backend


DEFAULT_CAPTURE_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            b"Content-Length: 8\r\nX-Capture: yes\r\n\r\ncaptured")


class CapturedConnection:
    def __init__(self, peer):
        self.peer = peer
        self.data = bytearray()  # every byte received, as received
        self.requests = []
        self.closed = False


class CaptureBackend:
    """A raw socket server that records exactly what it receives.

    mode:
      "respond"  parse each request (head + CL/chunked body) and answer with
                 `response` (bytes, or a callable(Request) -> bytes); keeps the
                 connection unless the request or response says close.
      "respond_close"  the same, but close after each answer (for partial answers).
      "close"    read a request head, then close without answering.
      "hang"     read requests, never answer (until stopped).
      "eof"      accept and close at once.
    """

    def __init__(self, response=DEFAULT_CAPTURE_RESPONSE, mode="respond"):
        self.response = response
        self.mode = mode
        self.connections = []
        self.requests = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._socks = []
        self.listener = local_listener(128)
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    @property
    def last(self):
        with self._lock:
            return self.requests[-1] if self.requests else None

    def wait_requests(self, n=1, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"capture backend saw {len(self.requests)} requests, wanted {n}")
                self._cond.wait(left)
            return list(self.requests)

    def wait_connections(self, n=1, timeout=5.0):
        ok = wait_until(lambda: len(self.connections) >= n, timeout)
        if not ok:
            raise AssertionError(f"capture backend saw {len(self.connections)} connections, wanted {n}")
        return list(self.connections)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, peer = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn = CapturedConnection(peer)
            with self._lock:
                self.connections.append(conn)
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock, conn), daemon=True).start()

    def _serve(self, sock, conn):
        sock.settimeout(0.5)
        reader = SockReader(sock, record=conn.data)
        try:
            if self.mode == "eof":
                return
            while not self._stop.is_set():
                try:
                    req = self._read_request(reader)
                except socket.timeout:
                    continue
                if req is None:
                    return
                with self._cond:
                    conn.requests.append(req)
                    self.requests.append(req)
                    self._cond.notify_all()
                if self.mode == "close":
                    return
                if self.mode == "hang":
                    while not self._stop.wait(0.1):
                        pass
                    return
                resp = self.response(req) if callable(self.response) else self.response
                if resp is None:
                    return
                sock.sendall(resp)
                if self.mode == "respond_close":
                    return
                req_close = "close" in (req.header("connection") or "").lower()
                head = resp.split(b"\r\n\r\n", 1)[0].lower()
                if req_close or b"connection: close" in head:
                    return
        except (EOFError, OSError, ValueError):
            return
        finally:
            conn.closed = True
            try:
                sock.close()
            except OSError:
                pass

    def _read_request(self, reader):
        """One request, or None on a clean EOF between requests."""
        while True:
            try:
                raw = reader.read_until(b"\r\n\r\n")
                break
            except socket.timeout:
                if self._stop.is_set():
                    return None
                if not reader.buf:
                    raise
        start, headers = parse_head(raw)
        req = Request(start, headers, raw_head=raw)
        req.chunked = "chunked" in (req.header("transfer-encoding") or "").lower()
        if self.mode in ("close",):
            return req
        if req.chunked:
            raw_body = bytearray()
            body = bytearray()
            while True:
                line = self._retry(reader.read_until, b"\r\n")
                raw_body += line
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                data = self._retry(reader.read_exact, size + 2)
                raw_body += data
                body += data[:-2]
            while True:
                line = self._retry(reader.read_until, b"\r\n")
                raw_body += line
                if line == b"\r\n":
                    break
            req.body = bytes(body)
            req.raw_body = bytes(raw_body)
        else:
            n = int(req.header("content-length") or 0)
            req.body = self._retry(reader.read_exact, n) if n else b""
            req.raw_body = req.body
        return req

    def _retry(self, fn, *args):
        while True:
            try:
                return fn(*args)
            except socket.timeout:
                if self._stop.is_set():
                    raise EOFError("stopped")

    def stop(self):
        stop_server_thread(self._stop, self.listener, self._lock, lambda: self._socks, self._thread)


def canned(status=200, headers=(), body=b"", reason=None):
    """Builds raw response bytes for a capture backend."""
    if isinstance(body, str):
        body = body.encode()
    reason = reason or {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found",
                        500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "X")
    lines = [f"HTTP/1.1 {status} {reason}"]
    names = set()
    for n, v in (headers.items() if isinstance(headers, dict) else headers):
        lines.append(f"{n}: {v}")
        names.add(n.lower())
    if "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def stop_server_thread(stop_event, listener, lock, sockets, thread):
    """Stops a threaded test server: sets its stop flag, closes its listener,
    shuts down the connections `sockets()` lists (called under `lock`) so
    blocked reads return, and joins its thread (2 s at most)."""
    stop_event.set()
    with contextlib.suppress(OSError):
        listener.close()
    with lock:
        socks = list(sockets())
    for s in socks:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
    thread.join(2)
