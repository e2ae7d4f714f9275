"""A small auth service for the forward_auth tests, in the manner of
Authelia's /api/verify and oauth2-proxy's /oauth2/auth: it runs in the test
process (a threaded http.server speaking HTTP/1.1 keep-alive) and records
every request it receives.

Paths (the query is ignored):
  /verify   a session cookie `session=<id>` or `Authorization: Bearer <id>`
            of a known user -> 200 with Remote-User, Remote-Groups,
            Remote-Email, Remote-Name (and a small body, which must go
            nowhere). Otherwise a browser (Accept with text/html) gets 302
            to the login page with a Set-Cookie; anyone else gets 401 with
            WWW-Authenticate and a text body.
  /partial  200 without any Remote-* field (only X-Auth-Note).
  /slow     sleeps `slow_seconds`, then 200.
  /big      401 with a body of 100 KiB (over gatehouse's bound).
  /teapot   418 with Connection: close and a hop-by-hop field named in it.
"""

import http.server
import socketserver
import threading
import time

USERS = {
    "s3ss10n-alice": {"user": "alice", "groups": "admins,dev", "email": "alice@example.test",
                      "name": "Alice Liddell"},
    "t0ken-bob": {"user": "bob", "groups": "dev", "email": "bob@example.test",
                  "name": "Bob Builder"},
}
LOGIN = "https://auth.example.test/login"


class Seen:
    """One request as the auth service received it."""

    def __init__(self, method, path, headers, peer):
        self.method = method
        self.path = path
        self.headers = headers   # [(name, value)] in arrival order
        self.peer = peer         # (host, port) of gatehouse's connection

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def headers_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


def _session(cookie_header):
    for part in (cookie_header or "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == "session" and v in USERS:
            return USERS[v]
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-auth"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.service.lock:
            self.server.service.open += 1

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.service.lock:
                self.server.service.open -= 1

    def _send(self, status, fields, body=b""):
        self.send_response(status)
        for n, v in fields:
            self.send_header(n, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        svc = self.server.service
        seen = Seen(self.command, self.path, list(self.headers.items()), self.client_address)
        with svc.lock:
            svc.requests.append(seen)
        path = self.path.split("?", 1)[0]
        if path == "/slow":
            time.sleep(svc.slow_seconds)
            self._send(200, [("Remote-User", "slowpoke")])
            return
        if path == "/partial":
            self._send(200, [("X-Auth-Note", "no user fields")])
            return
        if path == "/big":
            self._send(401, [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
                       b"x" * (100 * 1024))
            return
        if path == "/teapot":
            self.close_connection = True
            self._send(418, [("Connection", "close, X-Hop"), ("X-Hop", "secret"),
                             ("X-Kept", "yes"), ("X-Powered-By", "AuthKit 1.0"),
                             ("Content-Type", "text/plain")], b"short and stout\n")
            return
        user = _session(self.headers.get("Cookie"))
        auth = self.headers.get("Authorization") or ""
        if user is None and auth.startswith("Bearer "):
            user = USERS.get(auth[7:])
        if user is not None:
            self._send(200, [("Remote-User", user["user"]), ("Remote-Groups", user["groups"]),
                             ("Remote-Email", user["email"]), ("Remote-Name", user["name"]),
                             ("Content-Type", "text/plain")], b"authorized\n")
            return
        if "text/html" in (self.headers.get("Accept") or ""):
            target = "{}://{}{}".format(self.headers.get("X-Forwarded-Proto"),
                                        self.headers.get("X-Forwarded-Host"),
                                        self.headers.get("X-Forwarded-Uri"))
            self._send(302, [("Location", LOGIN + "?rd=" + target),
                             ("Set-Cookie", "auth_flow=started; Path=/; HttpOnly"),
                             ("Set-Cookie", "auth_lang=en; Path=/"),
                             ("Cache-Control", "no-store"),
                             ("Content-Type", "text/html")],
                       b"<a href=\"" + LOGIN.encode() + b"\">Found</a>\n")
            return
        self._send(401, [("WWW-Authenticate", 'Bearer realm="test-auth"'),
                         ("Content-Type", "text/plain; charset=utf-8"),
                         ("Cache-Control", "no-store")], b"login required\n")

    do_HEAD = do_GET


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class AuthService:
    """The service on 127.0.0.1 at a port of its own; stop() when done."""

    def __init__(self, slow_seconds=3.0, tls_context=None):
        self.lock = threading.Lock()
        self.requests = []
        self.open = 0   # connections open now
        self.slow_seconds = slow_seconds
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.service = self
        if tls_context is not None:   # https://: TLS on every accepted connection
            self._srv.socket = tls_context.wrap_socket(self._srv.socket, server_side=True)
        self.scheme = "https" if tls_context is not None else "http"
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path="/verify"):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def seen(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()
