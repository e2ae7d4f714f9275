"""TLS building blocks for the end-to-end tests (test_tls.py).

Certificates are made at test time with trustme (throw-away CAs and keys that
exist only in the test's temporary directory). Also here: a TLS HTTP/1.1
client on top of helpers' raw reader, a TLS backend that reports what it saw
(SNI, client certificate, resumption), a TLS WebSocket echo backend, and thin
wrappers around the openssl and curl command-line tools.
"""

import asyncio
import json
import re
import socket
import ssl
import subprocess
import threading
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

import helpers
from helpers import HOST, Request, SockReader, build_request, parse_head, read_response

TOOL_TIMEOUT = 15.0


# --------------------------------------------------------------------------
# Certificates


class Leaf:
    """A certificate + key written to files. `cn` identifies it in tests."""

    def __init__(self, cn, cert_path, key_path, leaf):
        self.cn = cn
        self.cert = Path(cert_path)
        self.key = Path(key_path)
        self.leaf = leaf

    def __repr__(self):
        return f"<Leaf {self.cn} {self.cert}>"


def write_leaf(ca, directory, stem, names, cn, chain=True):
    """Issues a certificate for `names` (DNS names, wildcards, IPs) with the
    subject CN `cn` and writes STEM.pem (certificate, then the intermediates
    when chain=True) and STEM.key."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(*names, common_name=cn)
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key"
    pems = leaf.cert_chain_pems if chain else leaf.cert_chain_pems[:1]
    cert_path.write_bytes(b"".join(p.bytes() for p in pems))
    key_path.write_bytes(leaf.private_key_pem.bytes())
    return Leaf(cn, cert_path, key_path, leaf)


def write_ca(ca, path):
    path = Path(path)
    ca.cert_pem.write_to_path(str(path))
    return path


def cn_of_der(der):
    cert = x509.load_der_x509_certificate(der)
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else None


def serial_of_der(der):
    return x509.load_der_x509_certificate(der).serial_number


# --------------------------------------------------------------------------
# TLS client


def client_context(cafile=None, verify=True, min_version=None, max_version=None, alpn=None,
                   ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(cafile=str(cafile))
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(port, sni=None, ctx=None, cafile=None, timeout=10.0, session=None, **ctx_args):
    """A TLS connection to 127.0.0.1:port sending `sni` (None: no SNI; then the
    name is not checked). Raises ssl.SSLError when the handshake fails."""
    if ctx is None:
        verify = ctx_args.pop("verify", cafile is not None and sni is not None)
        ctx = client_context(cafile=cafile, verify=verify, **ctx_args)
    raw = socket.create_connection((HOST, port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise


class TlsClient(helpers.OwnsSocket):
    """A keep-alive HTTP/1.1 client over one TLS connection."""

    def __init__(self, port, sni=None, cafile=None, timeout=10.0, **kw):
        self.sock = tls_connect(port, sni=sni, cafile=cafile, timeout=timeout, **kw)
        self.reader = SockReader(self.sock)

    def request(self, method="GET", target="/", headers=None, body=b"", host="example.test"):
        self.sock.sendall(build_request(method, target, headers, body, host))
        return read_response(self.reader, method)

    @property
    def peer_cn(self):
        return cn_of_der(self.sock.getpeercert(binary_form=True))

    @property
    def peer_serial(self):
        return serial_of_der(self.sock.getpeercert(binary_form=True))


def https_request(port, method="GET", target="/", headers=None, body=b"", host="example.test",
                  sni=None, cafile=None, timeout=10.0, **kw):
    with TlsClient(port, sni=sni, cafile=cafile, timeout=timeout, **kw) as c:
        resp = c.request(method, target, headers, body, host)
        resp.peer_cn = c.peer_cn
        resp.tls_version = c.sock.version()
        resp.alpn = c.sock.selected_alpn_protocol()
        return resp


def peer_cn(port, sni=None, timeout=10.0):
    """CN of the certificate the server presents for `sni` (no verification)."""
    with tls_connect(port, sni=sni, verify=False, timeout=timeout) as s:
        return cn_of_der(s.getpeercert(binary_form=True))


# --------------------------------------------------------------------------
# Command-line tools


def s_client(port, *args, stdin=b""):
    """`openssl s_client -connect 127.0.0.1:port ARGS` with stdin; returns
    (returncode, combined output)."""
    cmd = ["openssl", "s_client", "-connect", f"{HOST}:{port}", *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TOOL_TIMEOUT)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    return p.returncode, out


def s_client_subject_cn(output):
    """The CN of the server certificate in s_client output (OpenSSL 3 prints
    `subject=O = ..., CN = name`)."""
    m = re.search(r"^subject=.*?\bCN\s*=\s*([^,\n/]+)", output, re.M)
    return m.group(1).strip() if m else None


def s_client_protocol(output):
    m = re.search(r"New, (TLSv[\d.]+|SSLv3|\(NONE\)), Cipher is (\S+)", output)
    return (m.group(1), m.group(2)) if m else (None, None)


def curl(*args):
    """curl ARGS; returns (returncode, stdout, stderr)."""
    p = subprocess.run(["curl", "--max-time", "10", *args], capture_output=True,
                       timeout=TOOL_TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def curl_subject_cn(verbose):
    """CN from curl -v's `*  subject: O=...; CN=name` line."""
    m = re.search(r"^\*\s+subject:.*?\bCN\s*=\s*([^;\n]+)", verbose, re.M)
    return m.group(1).strip() if m else None


# --------------------------------------------------------------------------
# TLS backend


class TlsConnInfo:
    def __init__(self):
        self.sni = None
        self.client_cn = None
        self.version = None
        self.alpn = None
        self.session_reused = None
        self.error = None
        self.requests = 0


class TlsBackend:
    """An HTTPS/1.1 server on 127.0.0.1 that answers every request with JSON
    describing the request and its TLS connection.

    client_ca: require a client certificate issued by this CA (mTLS).
    close_each: answer with `Connection: close` and close (so every request
    needs a new TLS connection, for resumption tests).
    """

    def __init__(self, cert, key, client_ca=None, close_each=False, name="tls-backend"):
        self.name = name
        self.close_each = close_each
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.ctx.set_alpn_protocols(["http/1.1"])
        if client_ca is not None:
            self.ctx.load_verify_locations(cafile=str(client_ca))
            self.ctx.verify_mode = ssl.CERT_REQUIRED
        self._sni_by_sock = {}
        self.ctx.sni_callback = self._on_sni
        self.conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socks = []
        self.listener = helpers.local_listener(64)
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _on_sni(self, sslsock, name, ctx):
        self._sni_by_sock[id(sslsock)] = name
        return None

    @property
    def handshakes(self):
        with self._lock:
            return [c for c in self.conns if c.error is None]

    @property
    def failures(self):
        with self._lock:
            return [c for c in self.conns if c.error is not None]

    def _accept_loop(self):
        for sock in helpers.accepted(self.listener, self._stop):
            with self._lock:
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        info = TlsConnInfo()
        sock.settimeout(5.0)
        try:
            try:
                s = self.ctx.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as e:
                info.error = str(e)
                with self._lock:
                    self.conns.append(info)
                return
            info.sni = self._sni_by_sock.pop(id(s), None)
            info.version = s.version()
            info.alpn = s.selected_alpn_protocol()
            info.session_reused = s.session_reused
            cert = s.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            info.client_cn = v
            with self._lock:
                self.conns.append(info)
                self._socks.append(s)
            self._serve_requests(s, info)
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _serve_requests(self, s, info):
        reader = SockReader(s)
        while not self._stop.is_set():
            try:
                raw = reader.read_until(b"\r\n\r\n")
            except socket.timeout:
                if reader.buf:
                    return
                continue
            except (EOFError, OSError, ValueError):
                return
            start, headers = parse_head(raw)
            req = Request(start, headers, raw_head=raw)
            n = int(req.header("content-length") or 0)
            try:
                req.body = reader.read_exact(n) if n else b""
            except (EOFError, OSError):
                return
            info.requests += 1
            hdrs = {}
            for k, v in req.headers:
                hdrs.setdefault(k.lower(), v)
            body = json.dumps({
                "backend": self.name, "method": req.method, "path": req.target,
                "headers": hdrs, "sni": info.sni, "client_cn": info.client_cn,
                "tls_version": info.version, "session_reused": info.session_reused,
            }).encode()
            close = self.close_each or "close" in (req.header("connection") or "").lower()
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    + ("Connection: close\r\n" if close else "") + "\r\n")
            try:
                s.sendall(head.encode() + body)
            except OSError:
                return
            if close:
                try:
                    s.unwrap()
                except (ssl.SSLError, OSError, ValueError):
                    pass
                return

    def stop(self):
        helpers.stop_server_thread(self._stop, self.listener, self._lock, lambda: self._socks,
                                   self._thread)


# --------------------------------------------------------------------------
# TLS WebSocket echo backend (websockets library, own event loop thread)


class WssEchoBackend:
    """wss:// echo server on 127.0.0.1. Records the request headers of each
    handshake in `.handshakes` (list of dicts, lower-case names)."""

    def __init__(self, cert, key):
        import websockets  # noqa: F401 (fail early when missing)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.handshakes = []
        self.port = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop_fut = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("wss backend did not start")

    def _run(self):
        import websockets
        asyncio.set_event_loop(self._loop)

        async def handler(ws, path=None):
            self.handshakes.append({k.lower(): v for k, v in ws.request_headers.raw_items()})
            async for msg in ws:
                await ws.send(msg)

        async def main():
            self._stop_fut = self._loop.create_future()
            async with websockets.serve(handler, HOST, 0, ssl=self.ctx) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                self._ready.set()
                await self._stop_fut

        try:
            self._loop.run_until_complete(main())
        finally:
            self._loop.close()

    def stop(self):
        if self._stop_fut is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(
                    lambda: self._stop_fut.done() or self._stop_fut.set_result(None))
            except RuntimeError:
                pass
        self._thread.join(5)


def ws_echo_roundtrip(port, path="/ws", tls_ctx=None, sni=None, messages=("hello", b"\x00\x01bin"),
                      timeout=15.0, headers=None):
    """Opens ws:// or wss:// (when tls_ctx) to 127.0.0.1:port with the
    websockets client, sends `messages`, returns the echoes."""
    import websockets

    async def run():
        sock = socket.create_connection((HOST, port), timeout=5)
        sock.setblocking(False)
        scheme = "wss" if tls_ctx is not None else "ws"
        kwargs = {"sock": sock, "open_timeout": 10, "close_timeout": 5}
        if tls_ctx is not None:
            kwargs["ssl"] = tls_ctx
            kwargs["server_hostname"] = sni or ""
        if headers:
            kwargs["extra_headers"] = headers
        host = sni or "example.test"
        got = []
        async with websockets.connect(f"{scheme}://{host}:{port}{path}", **kwargs) as ws:
            for m in messages:
                await ws.send(m)
                got.append(await asyncio.wait_for(ws.recv(), 5))
        return got

    return asyncio.run(asyncio.wait_for(run(), timeout))


def wait_for(pred, timeout=5.0, interval=0.05):
    return helpers.wait_until(pred, timeout, interval)
