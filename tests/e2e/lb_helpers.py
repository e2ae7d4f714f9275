"""Helpers for the load-balancing / health-check / failover tests
(test_balancing.py): route building, a keep-alive client, a steady request
stream from several threads, and log polling."""

import re
import socket
import threading
import time
from collections import Counter

import helpers
from helpers import HOST, SockReader, build_request, read_response


def lb_route(backends, path="/", **extra):
    """A reverse_proxy entry with several backends. `backends` holds origins /
    capture backends / ports, or (backend, {"weight": .., "backup": ..}) pairs."""
    entries = []
    for b in backends:
        opts = {}
        if isinstance(b, tuple):
            b, opts = b
        port = getattr(b, "port", b)
        e = {"address": f"{HOST}:{port}"}
        e.update(opts)
        entries.append(e)
    r = {"path": path, "backends": entries}
    r.update(extra)
    return r


def lb_config(route, **server):
    s = {"reverse_proxy": [route]}
    s.update(server)
    return {"server": s}


HEALTH_FAST = {"path": "/healthz", "interval": "200ms", "timeout": "200ms",
               "unhealthy": 2, "healthy": 2}


def instance_of(resp):
    """The demo origin's instance name from a JSON echo, or None."""
    try:
        return resp.json().get("instance")
    except Exception:
        return None


def proxy_status_params(resp):
    """(proxy name, {param: value}) of the first Proxy-Status element."""
    ps = resp.header("proxy-status")
    if ps is None:
        return None, {}
    first = ps.split(",")[0]
    parts = [p.strip() for p in first.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return parts[0], params


class KeepAliveClient:
    """Sends requests one after another over one kept-alive connection,
    opening a new one when the proxy closed the previous."""

    def __init__(self, port, timeout=5.0, source_ip=None):
        self.port = port
        self.timeout = timeout
        self.source_ip = source_ip
        self.sock = None
        self.reader = None

    def _open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        if self.source_ip:
            s.bind((self.source_ip, 0))
        s.connect((HOST, self.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.reader = SockReader(s)

    def request(self, method="GET", target="/", headers=None, body=b""):
        if self.sock is None:
            self._open()
        try:
            self.sock.sendall(build_request(method, target, headers, body))
            resp = read_response(self.reader, method)
        except BaseException:
            self.close()
            raise
        conn = (resp.header("connection") or "").lower()
        if "close" in conn:
            self.close()
        return resp

    def get(self, target="/", headers=None):
        return self.request("GET", target, headers)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.reader = None


def spread(port, n, path="/spread", clients=1):
    """n GETs over `clients` kept-alive connections, round by round; returns
    [(request_id, Response)]."""
    cs = [KeepAliveClient(port) for _ in range(clients)]
    out = []
    try:
        for i in range(n):
            rid = f"lb-{i}-{time.monotonic_ns()}"
            resp = cs[i % clients].get(f"{path}/{i}", headers={"X-Request-ID": rid})
            out.append((rid, resp))
    finally:
        for c in cs:
            c.close()
    return out


def counts_by_instance(results):
    return Counter(instance_of(r) for _, r in results)


class Result:
    __slots__ = ("t", "ok", "instance", "detail")

    def __init__(self, t, ok, instance, detail):
        self.t = t
        self.ok = ok
        self.instance = instance
        self.detail = detail


class LoadStream:
    """`threads` clients, each sending idempotent GETs back to back over a
    kept-alive connection (pause between requests), until stop(). Every
    request is recorded; one that does not end in a 200 from an origin (error
    status, proxy error, reset, timeout) is a failure."""

    def __init__(self, port, threads=4, path="/load", pause=0.003, timeout=5.0,
                 method="GET"):
        self.port = port
        self.path = path
        self.pause = pause
        self.timeout = timeout
        self.method = method
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, idx):
        c = KeepAliveClient(self.port, timeout=self.timeout)
        n = 0
        while not self._stop.is_set():
            n += 1
            t = time.monotonic()
            try:
                resp = c.request(self.method, f"{self.path}/{idx}/{n}")
                inst = instance_of(resp)
                ok = resp.status == 200 and inst is not None
                detail = None if ok else (f"{resp.status} {resp.header('proxy-status')!r} "
                                          f"{resp.body[:120]!r}")
            except Exception as e:  # noqa: BLE001 - any client-visible failure counts
                ok, inst, detail = False, None, f"{type(e).__name__}: {e}"
            with self._lock:
                self.results.append(Result(t, ok, inst, detail))
            if self.pause:
                self._stop.wait(self.pause)
        c.close()

    def snapshot(self):
        with self._lock:
            return list(self.results)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 2)
        return self.snapshot()

    def failures(self):
        return [r for r in self.snapshot() if not r.ok]


def wait_log(gh, pattern, timeout=5.0, interval=0.01):
    """Polls gatehouse's operational log (stderr) for a regex; returns the
    match (against gh.stderr()) or None."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(gh.stderr())
        if m or time.monotonic() >= deadline:
            return m
        time.sleep(interval)


def down_re(address):
    return rf"backend {re.escape(address)}\b[^\n]* is DOWN[^\n]*"


def up_re(address):
    return rf"backend {re.escape(address)}\b[^\n]* is UP[^\n]*"


def kill_origin(o):
    """SIGKILL a demo origin and reap it."""
    o.proc.kill()
    o.proc.wait(5)


def restart_origin(name, port, timeout=5.0):
    """A new demo origin with the same name on the same port (retrying while
    the port is briefly unavailable)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return helpers.Origin(name=name, port=port)
        except helpers.ProcessError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
