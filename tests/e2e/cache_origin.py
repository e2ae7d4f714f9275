"""A small threaded HTTP/1.1 origin for the cache tests (test_cache.py).

Each test says, per path, what the origin answers: a `Reply` (status, fields,
body, delay, chunked framing, or a failure: close the connection without an
answer, reset it, hang) or a function `handler(req, n) -> Reply` called with
the request and how many requests that path had before it. The origin counts
the requests it got per path and keeps them (method, target, fields), so a
test can assert "the origin saw exactly one request" and what it was sent.

The path a reply is looked up by is the request target's path as received,
byte for byte (the cache's key normalization is gatehouse's business, not
ours): register each spelling a test sends, or use `default`.

Connections are kept alive as HTTP/1.1 says; every request gets its own
thread of control only through its connection's thread, so concurrent
requests need concurrent connections (which is what a proxy opens).
"""

import contextlib
import email.utils
import socket
import struct
import threading
import time

import helpers
from helpers import HOST, Request, SockReader, parse_head


def http_date(t=None):
    """An IMF-fixdate (RFC 9110 5.6.7) for time t (now by default)."""
    return email.utils.formatdate(time.time() if t is None else t, usegmt=True)


def parse_http_date(text):
    dt = email.utils.parsedate_to_datetime(text)
    return dt.timestamp()


class Reply:
    """What the origin answers.

    headers: [(name, value)] or a dict. A `Date` of now is added unless
    `date=False` or the headers carry one. `Content-Length` is added unless
    `chunked` (then the body is sent as two chunks) or `no_length` (then the
    body ends with the connection) or `raw` (the headers and body are sent as
    given: the test does the framing).
    action: None (answer), "close" (close without answering), "reset" (RST),
    "hang" (never answer; the connection stays until the origin stops).
    delay: seconds to wait before the head. body_delay: seconds between the
    head and the body.
    """

    def __init__(self, status=200, headers=(), body=b"", delay=0.0, body_delay=0.0,
                 action=None, chunked=False, no_length=False, date=True, reason=None,
                 raw=False):
        self.status = status
        self.headers = list(headers.items() if isinstance(headers, dict) else headers)
        self.body = body.encode() if isinstance(body, str) else body
        self.delay = delay
        self.body_delay = body_delay
        self.action = action
        self.chunked = chunked
        self.no_length = no_length
        self.date = date
        self.reason = reason
        self.raw = raw

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default


REASONS = {200: "OK", 201: "Created", 203: "Non-Authoritative Information", 204: "No Content",
           206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other",
           304: "Not Modified", 307: "Temporary Redirect", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 410: "Gone", 416: "Range Not Satisfiable",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def etag_matches(if_none_match, etag):
    """Weak comparison (RFC 9110 13.1.2) of an If-None-Match list with one ETag."""
    if if_none_match is None or etag is None:
        return False
    if if_none_match.strip() == "*":
        return True
    want = etag[2:] if etag.startswith("W/") else etag
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == want:
            return True
    return False


def not_modified(req, etag=None, last_modified=None):
    """True when req's conditionals say the client already has this version
    (If-None-Match first; If-Modified-Since only without it)."""
    inm = req.header("if-none-match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = req.header("if-modified-since")
    if ims is not None and last_modified is not None:
        try:
            return parse_http_date(last_modified) <= parse_http_date(ims)
        except (TypeError, ValueError):
            return False
    return False


def validating(reply, etag=None, last_modified=None, extra_304=()):
    """A handler that answers `reply` (which should carry the validators) and
    304 to a request whose conditionals match, with the reply's fields minus
    the body framing, plus `extra_304`."""
    def handler(req, n):
        if not_modified(req, etag, last_modified):
            hdrs = [(k, v) for k, v in reply.headers
                    if k.lower() not in ("content-length", "content-type", "transfer-encoding")]
            hdrs += list(extra_304)
            return Reply(304, hdrs)
        return reply
    return handler


class CacheOrigin:
    """The origin server. Use as a context manager or call stop()."""

    def __init__(self):
        self.routes = {}            # path -> Reply or handler(req, n)
        self.default = None
        self.requests = []          # every Request, in arrival order (each has .path, .conn_id)
        self._by_path = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._socks = []
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.listener = helpers.local_listener(256)
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    # -- configuration

    def set(self, path, reply_or_handler):
        """What `path` (the target's path, without the query) answers."""
        with self._lock:
            self.routes[path] = reply_or_handler

    def set_default(self, reply_or_handler):
        with self._lock:
            self.default = reply_or_handler

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    # -- what it saw

    def seen(self, path=None, method=None):
        """Requests received for `path` (None: any), optionally of one method."""
        with self._lock:
            reqs = list(self.requests if path is None else self._by_path.get(path, []))
        if method is not None:
            reqs = [r for r in reqs if r.method == method]
        return reqs

    def count(self, path=None, method=None):
        return len(self.seen(path, method))

    def wait_count(self, n, path=None, timeout=5.0, method=None):
        """Waits until `path` had at least n requests; returns the count."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = len([r for r in (self.requests if path is None
                                       else self._by_path.get(path, []))
                           if method is None or r.method == method])
                left = deadline - time.monotonic()
                if got >= n or left <= 0:
                    return got
                self._cond.wait(left)

    def last(self, path=None):
        reqs = self.seen(path)
        return reqs[-1] if reqs else None

    # -- serving

    def _accept_loop(self):
        cid = 0
        for sock in helpers.accepted(self.listener, self._stop):
            cid += 1
            with self._lock:
                self._socks.append(sock)
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock, cid), daemon=True).start()

    def _retry(self, fn, *args):
        while True:
            try:
                return fn(*args)
            except socket.timeout:
                if self._stop.is_set():
                    raise EOFError("stopped")

    def _read_request(self, reader):
        """One request, or None on EOF or stop."""
        try:
            raw = self._retry(reader.read_until, b"\r\n\r\n")
        except EOFError:
            return None
        start, headers = parse_head(raw)
        req = Request(start, headers, raw_head=raw)
        if "chunked" in (req.header("transfer-encoding") or "").lower():
            body = bytearray()
            while True:
                line = self._retry(reader.read_until, b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                body += self._retry(reader.read_exact, size)
                self._retry(reader.read_exact, 2)
            while self._retry(reader.read_until, b"\r\n") != b"\r\n":
                pass
            req.body = bytes(body)
        else:
            n = int(req.header("content-length") or 0)
            req.body = self._retry(reader.read_exact, n) if n else b""
        return req

    def _serve(self, sock, cid):
        sock.settimeout(0.5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = SockReader(sock)
        try:
            while not self._stop.is_set():
                req = self._read_request(reader)
                if req is None:
                    return
                req.path = req.target.split("?", 1)[0]
                req.query = req.target.split("?", 1)[1] if "?" in req.target else None
                req.conn_id = cid
                req.received_at = time.monotonic()
                with self._cond:
                    n = len(self._by_path.get(req.path, []))
                    self.requests.append(req)
                    self._by_path.setdefault(req.path, []).append(req)
                    what = self.routes.get(req.path, self.default)
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                    self._cond.notify_all()
                try:
                    if what is None:
                        reply = Reply(404, [("Content-Type", "text/plain")], b"no handler\n")
                    elif callable(what):
                        reply = what(req, n)
                    else:
                        reply = what
                    keep = self._answer(sock, req, reply)
                finally:
                    with self._lock:
                        self.in_flight -= 1
                if not keep:
                    return
        except (EOFError, OSError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _sleep(self, seconds):
        """Sleeps, but returns early when the origin stops."""
        return not self._stop.wait(seconds) if seconds > 0 else True

    def _answer(self, sock, req, reply):
        """Sends reply; returns whether the connection may be kept."""
        if not self._sleep(reply.delay):
            return False
        if reply.action == "close":
            return False
        if reply.action == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if reply.action == "hang":
            while not self._stop.wait(0.1):
                pass
            return False
        status = reply.status
        lines = [f"HTTP/1.1 {status} {reply.reason or REASONS.get(status, 'Whatever')}"]
        names = {n.lower() for n, _ in reply.headers}
        if reply.date and "date" not in names:
            lines.append(f"Date: {http_date()}")
        for n, v in reply.headers:
            lines.append(f"{n}: {v}")
        body = reply.body
        bodiless = req.method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if reply.raw:
            pass
        elif reply.chunked and not bodiless:
            lines.append("Transfer-Encoding: chunked")
        elif reply.no_length and not bodiless:
            lines.append("Connection: close")
        elif "content-length" not in names and status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock.sendall(head)
        if bodiless:
            return True
        if not self._sleep(reply.body_delay):
            return False
        if reply.chunked and not reply.raw:
            half = len(body) // 2
            out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]) if p)
            sock.sendall(out + b"0\r\n\r\n")
        else:
            sock.sendall(body)
        if reply.no_length:
            return False
        return "close" not in (req.header("connection") or "").lower()

    def stop(self):
        helpers.stop_server_thread(self._stop, self.listener, self._lock,
                                   lambda: self._socks, self._thread)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
