"""forward_auth (CONTRACT.md, "Policies (wave 2)"): the sub-request the auth
service receives, the copy_headers on the upstream request (client-sent
copies always removed), non-2xx answers relayed with their body and
Proxy-Status, 503 / 504 for an auth service that is down or slow, keep-alive
reuse of auth connections, and the same over HTTP/2 and WebSocket routes.

The auth service is tests/e2e/auth_service.py, run in the test process.
"""

import base64
import re
import signal
import time

import pytest

import helpers
import ws_helpers
from auth_service import LOGIN, AuthService
from helpers import SockReader, build_request, connect, free_port, http_request, read_response, route

pytestmark = pytest.mark.deadline(30)

FRONT = "front.test"
COPY = ["Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name"]


@pytest.fixture
def auth():
    started = []

    def start(**kw):
        a = AuthService(**kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


def front(gatehouse, backend, url, path="/", timeout=None, copy=COPY, **route_extra):
    fa = {"url": url, "copy_headers": copy}
    if timeout:
        fa["timeout"] = timeout
    srv = {"reverse_proxy": [route(backend, path, forward_auth=fa, **route_extra)]}
    return gatehouse({"server": srv})


def get(port, target="/app/x?y=1", headers=None, method="GET"):
    return http_request(port, method, target, headers=headers, host=FRONT)


def proxy_status(resp):
    return ", ".join(resp.headers_all("proxy-status"))


def assert_denied(resp, error="http_request_denied"):
    ps = proxy_status(resp)
    assert ps.startswith("gatehouse") and f"error={error}" in ps, (resp.status, resp.headers)
    m = re.search(r'details="([^"]*)"', ps)
    assert m and "forward_auth" in m.group(1), ps


ALICE = ("Cookie", "theme=dark; session=s3ss10n-alice")
BOB = ("Authorization", "Bearer t0ken-bob")


# --------------------------------------------------------------------------
# What the auth service receives


def test_sub_request_carries_credentials_and_forwarded_fields(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url("/verify?svc=app&x=%2F"))
    r = get(gh.port, "/app/page?q=1&r=two", headers=[ALICE, BOB, ("Accept", "text/html"),
                                                       ("X-Other", "not-for-auth")])
    assert r.status == 200, r
    seen = a.seen()
    assert len(seen) == 1
    s = seen[0]
    assert s.method == "GET"
    assert s.path == "/verify?svc=app&x=%2F"
    assert s.header("Host") == f"127.0.0.1:{a.port}"
    assert s.headers_all("Cookie") == ["theme=dark; session=s3ss10n-alice"]
    assert s.headers_all("Authorization") == ["Bearer t0ken-bob"]
    assert s.header("X-Forwarded-Method") == "GET"
    assert s.header("X-Forwarded-Proto") == "http"
    assert s.header("X-Forwarded-Host") == FRONT
    assert s.header("X-Forwarded-Uri") == "/app/page?q=1&r=two"
    assert s.header("X-Forwarded-For") == "127.0.0.1"
    assert s.header("X-Other") is None
    assert s.header("Content-Length") in (None, "0")


def test_forwarded_method_is_the_clients(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    r = http_request(gh.port, "POST", "/app/form", headers=[ALICE], body=b"a=1", host=FRONT)
    assert r.status == 200, r
    s = a.seen()[0]
    assert s.method == "GET" and s.header("X-Forwarded-Method") == "POST"
    # The client's body goes to the backend, not to the auth service.
    assert b.wait_requests(1)[0].body == b"a=1"


# --------------------------------------------------------------------------
# 2xx: copy_headers on the upstream request


def test_2xx_sets_copy_headers_upstream(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    r = get(gh.port, headers=[ALICE])
    assert r.status == 200, r
    up = b.wait_requests(1)[0]
    assert up.headers_all("Remote-User") == ["alice"]
    assert up.headers_all("Remote-Groups") == ["admins,dev"]
    assert up.headers_all("Remote-Email") == ["alice@example.test"]
    assert up.headers_all("Remote-Name") == ["Alice Liddell"]
    # The client's own fields still go upstream; the auth answer's body does not.
    assert up.headers_all("Cookie") == ["theme=dark; session=s3ss10n-alice"]
    assert b"authorized" not in r.body
    # Bearer credentials work the same way.
    r = get(gh.port, headers=[BOB])
    assert r.status == 200
    assert b.wait_requests(2)[1].headers_all("Remote-User") == ["bob"]


def test_forged_copy_headers_are_stripped(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    forged = [ALICE, ("Remote-User", "root"), ("remote-user", "admin"), ("Remote-Groups", "admins")]
    r = get(gh.port, headers=forged)
    assert r.status == 200, r
    up = b.wait_requests(1)[0]
    assert up.headers_all("Remote-User") == ["alice"]
    assert up.headers_all("Remote-Groups") == ["admins,dev"]


def test_forged_copies_spelled_with_underscores_are_stripped(gatehouse, capture_backend, auth):
    # CGI, WSGI, Rack and PHP give Remote_User and Remote-User to the
    # application under one name (HTTP_REMOTE_USER): the '_' spelling of a
    # field gatehouse owns must not reach the backend either.
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    forged = [ALICE, ("Remote_User", "admin"), ("remote_groups", "admins"),
              ("X_Forwarded_For", "10.9.9.9"), ("X_Real_IP", "10.9.9.9"), ("X_Request_ID", "forged"),
              ("Some_Other", "kept")]
    r = get(gh.port, headers=forged)
    assert r.status == 200, r
    up = b.wait_requests(1)[0]
    for name in ("Remote_User", "remote_groups", "X_Forwarded_For", "X_Real_IP", "X_Request_ID"):
        assert not up.has(name), (name, up.headers)
    assert up.headers_all("Remote-User") == ["alice"]
    assert up.headers_all("X-Forwarded-For") == ["127.0.0.1"]
    # A field with '_' that no one owns passes as it is.
    assert up.headers_all("Some_Other") == ["kept"]


def test_basic_auth_password_is_not_sent_to_the_auth_service(gatehouse, capture_backend, auth, tmp_path):
    a = auth()
    b = capture_backend()
    users = tmp_path / "htpasswd"   # ann / secret (SHA-crypt)
    users.write_text("ann:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\n")
    srv = {"reverse_proxy": [route(b, "/", basic_auth={"realm": "r", "users_file": str(users)},
                                   forward_auth={"url": a.url(), "copy_headers": ["Remote-User"]})]}
    gh = gatehouse({"server": srv})
    r = get(gh.port, headers=[ALICE, ("Authorization", "Basic " + base64.b64encode(b"ann:secret").decode())])
    assert r.status == 200, r
    s = a.seen()[0]
    assert s.header("Authorization") is None, s.headers
    assert s.headers_all("Cookie") == ["theme=dark; session=s3ss10n-alice"]
    assert not b.wait_requests(1)[0].has("Authorization")


def test_forged_copy_headers_stripped_when_the_answer_lacks_them(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url("/partial"))
    r = get(gh.port, headers=[("Remote-User", "root"), ("Remote-Email", "root@evil"),
                              ("X-Auth-Note", "client")])
    assert r.status == 200, r
    up = b.wait_requests(1)[0]
    assert not up.has("Remote-User") and not up.has("Remote-Email"), up.headers
    # A field not in copy_headers is neither copied nor stripped.
    assert up.headers_all("X-Auth-Note") == ["client"]


# --------------------------------------------------------------------------
# Other answers go back to the client


def test_login_redirect_relayed(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    r = get(gh.port, "/app/doc?id=7", headers=[("Accept", "text/html,*/*")])
    assert r.status == 302, r
    assert r.header("Location") == LOGIN + f"?rd=http://{FRONT}/app/doc?id=7"
    assert r.headers_all("Set-Cookie") == ["auth_flow=started; Path=/; HttpOnly", "auth_lang=en; Path=/"]
    assert r.header("Cache-Control") == "no-store"
    assert r.header("Content-Type") == "text/html"
    assert r.body == b'<a href="' + LOGIN.encode() + b'">Found</a>\n'
    assert r.header("Content-Length") == str(len(r.body))
    assert r.header("Server") == "gatehouse"
    assert_denied(r)
    assert not b.requests


def test_401_relayed_with_body_and_challenge(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    with connect(gh.port, timeout=5) as s:
        reader = SockReader(s)
        for _ in range(2):   # the connection stays usable after a relayed answer
            s.sendall(build_request("GET", "/app/api", headers=[("Remote-User", "root")], host=FRONT))
            r = read_response(reader)
            assert r.status == 401, r
            assert r.headers_all("WWW-Authenticate") == ['Bearer realm="test-auth"']
            assert r.header("Content-Type") == "text/plain; charset=utf-8"
            assert r.body == b"login required\n"
            assert len(r.headers_all("Date")) == 1
            assert_denied(r)
    # HEAD: the same head, no body.
    r = get(gh.port, method="HEAD")
    assert r.status == 401 and r.body == b""
    assert not b.requests


def test_hop_by_hop_fields_of_the_answer_dropped(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url("/teapot"))
    with connect(gh.port, timeout=5) as s:
        reader = SockReader(s)
        s.sendall(build_request("GET", "/app/x", host=FRONT))
        r = read_response(reader)
        assert r.status == 418 and r.body == b"short and stout\n", r
        assert r.header("X-Kept") == "yes"
        assert not r.has("X-Hop")
        assert r.header("Connection") in (None, "keep-alive")   # the auth service's close is its own
        s.sendall(build_request("GET", "/app/x", host=FRONT))
        assert read_response(reader).status == 418


def test_response_rules_and_obfuscate_apply_to_relayed_answers(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url("/teapot"), obfuscate=True,
               headers={"response": {"remove": ["X-Kept"], "set": {"X-Frame-Options": "DENY"}}})
    r = get(gh.port)
    assert r.status == 418 and r.body == b"short and stout\n", r
    assert not r.has("X-Powered-By") and not r.has("X-Kept"), r.headers
    assert r.headers_all("X-Frame-Options") == ["DENY"]
    assert_denied(r)


def test_oversized_answer_body_is_502(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url("/big"))
    r = get(gh.port)
    assert r.status == 502, r
    assert_denied(r, "http_response_body_size")
    assert b"x" * 100 not in r.body


def test_access_log_names_forward_auth(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    get(gh.port, headers=[("X-Request-ID", "refused")])
    get(gh.port, headers=[("X-Request-ID", "let-in"), ALICE])

    def by_id():
        got = {rec.get("request_id"): rec for rec in gh.access_log()}
        return got if {"refused", "let-in"} <= set(got) else None

    recs = helpers.wait_until(by_id, 5.0)
    assert recs, gh.stdout()[-2000:]
    assert int(recs["refused"]["status"]) == 401
    assert recs["refused"]["policy"] == "forward_auth"
    assert int(recs["let-in"]["status"]) == 200
    assert not recs["let-in"].get("policy")


# --------------------------------------------------------------------------
# Down and slow auth services


def test_auth_service_down_is_503_fast(gatehouse, capture_backend):
    b = capture_backend()
    gh = front(gatehouse, b, f"http://127.0.0.1:{free_port()}/verify", timeout="2s")
    t0 = time.monotonic()
    r = get(gh.port, headers=[ALICE])
    took = time.monotonic() - t0
    assert r.status == 503, r
    assert_denied(r, "connection_refused")
    assert took < 1.0, took
    assert not b.requests


def test_auth_service_name_not_found_is_503(gatehouse, capture_backend):
    b = capture_backend()
    gh = front(gatehouse, b, "http://no-such-host.invalid/verify", timeout="3s")
    r = get(gh.port)
    assert r.status in (503, 504), r
    ps = proxy_status(r)
    assert "dns_error" in ps or "connection_timeout" in ps, ps
    assert "forward_auth" in ps
    assert "no-such-host" not in ps and "no-such-host" not in r.body.decode(), ps   # never named to clients


def test_slow_auth_service_is_504_within_timeout(gatehouse, capture_backend, auth):
    a = auth(slow_seconds=3.0)
    b = capture_backend()
    gh = front(gatehouse, b, a.url("/slow"), timeout="500ms")
    t0 = time.monotonic()
    r = get(gh.port, headers=[ALICE])
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert_denied(r, "http_response_timeout")
    assert 0.4 <= took < 1.5, took
    assert not b.requests


def test_slow_auth_does_not_block_other_requests(gatehouse, capture_backend, auth):
    a = auth(slow_seconds=2.0)
    b = capture_backend()
    srv = {"workers": 1, "reverse_proxy": [
        route(b, "/app", forward_auth={"url": a.url("/slow"), "timeout": "3s"}),
        route(b, "/open")]}
    gh = gatehouse({"server": srv})
    slow = connect(gh.port, timeout=5)
    try:
        slow.sendall(build_request("GET", "/app/x", host=FRONT))
        assert helpers.wait_until(lambda: len(a.seen()) == 1, 2)
        t0 = time.monotonic()
        r = get(gh.port, "/open/y")
        assert r.status == 200 and time.monotonic() - t0 < 0.5
        r = read_response(SockReader(slow))
        assert r.status == 200, r
    finally:
        slow.close()


# --------------------------------------------------------------------------
# Connections to the auth service are kept alive and reused


def test_auth_connections_are_reused(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    srv = {"workers": 1, "reverse_proxy": [route(b, "/", forward_auth={"url": a.url(),
                                                                      "copy_headers": COPY})]}
    gh = gatehouse({"server": srv})
    for i in range(5):
        r = get(gh.port, f"/app/{i}", headers=[ALICE])
        assert r.status == 200, r
    seen = a.seen()
    assert len(seen) == 5
    assert len({s.peer for s in seen}) == 1, [s.peer for s in seen]


def test_auth_connection_closed_by_service_is_replaced(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    srv = {"workers": 1, "reverse_proxy": [route(b, "/", forward_auth={"url": a.url("/teapot")})]}
    gh = gatehouse({"server": srv})
    # /teapot closes its connection after each answer: each request gets a
    # fresh one and none fails.
    for _ in range(3):
        assert get(gh.port).status == 418
    assert len({s.peer for s in a.seen()}) == 3


def test_reload_drops_the_old_auth_connections(gatehouse, capture_backend, auth):
    a1, a2 = auth(), auth()
    b = capture_backend()
    srv = {"workers": 1, "reverse_proxy": [route(b, "/app", forward_auth={"url": a1.url()}),
                                           route(b, "/open")]}
    gh = gatehouse({"server": srv})
    assert get(gh.port, "/app/x", headers=[ALICE]).status == 200
    assert a1.open == 1   # kept alive
    srv["reverse_proxy"][0]["forward_auth"]["url"] = a2.url()
    # The same listener (a reload binds the address the file names).
    srv["host"], srv["port"] = gh.config["server"]["host"], gh.port
    gh.config_path.write_text(helpers.to_yaml({"server": srv}) + "\n")
    before = gh.stderr().count("configuration reloaded")
    gh.signal(signal.SIGHUP)
    assert helpers.wait_until(lambda: gh.stderr().count("configuration reloaded") > before, 5.0)
    # A request without forward_auth lets the worker drop the old config;
    # the old policy's idle connection is then closed by the worker's upkeep.
    assert get(gh.port, "/open/y").status == 200
    assert helpers.wait_until(lambda: a1.open == 0, 4.0), a1.open
    assert get(gh.port, "/app/x", headers=[BOB]).status == 200
    assert len(a2.seen()) == 1 and len(a1.seen()) == 1


def test_https_auth_service_verified_and_reused(gatehouse, capture_backend, auth, tmp_path,
                                                monkeypatch):
    import ssl
    import tls_helpers as th
    import trustme
    ca = trustme.CA()
    leaf = th.write_leaf(ca, tmp_path / "pki", "auth", ["127.0.0.1"], "auth")
    ca_pem = th.write_ca(ca, tmp_path / "pki" / "ca.pem")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
    a = auth(tls_context=ctx)
    b = capture_backend()
    # The auth service is checked against the system trust store, which
    # OpenSSL lets SSL_CERT_FILE stand in for.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
    srv = {"workers": 1, "reverse_proxy": [route(b, "/", forward_auth={"url": a.url(), "copy_headers": COPY})]}
    gh = gatehouse({"server": srv})
    for _ in range(3):
        r = get(gh.port, headers=[ALICE])
        assert r.status == 200, r
    assert [u.headers_all("Remote-User") for u in b.wait_requests(3)] == [["alice"]] * 3
    assert len({s.peer for s in a.seen()}) == 1
    assert get(gh.port).status == 401
    # Not trusted: 503, the certificate named.
    monkeypatch.delenv("SSL_CERT_FILE")
    gh2 = gatehouse({"server": srv})
    r = get(gh2.port, headers=[ALICE])
    assert r.status == 503, r
    assert_denied(r, "tls_certificate_error")
    assert len(a.seen()) == 4


# --------------------------------------------------------------------------
# HTTP/2 and WebSocket routes


def test_http2_route(gatehouse, capture_backend, auth):
    from test_http2 import H2Client
    a = auth()
    b = capture_backend()
    gh = front(gatehouse, b, a.url())
    with H2Client(gh.port) as c:
        r = c.request("GET", "/app/h2?z=1", headers=[("cookie", "theme=dark"),
                                                     ("cookie", "session=s3ss10n-alice"),
                                                     ("remote-user", "root")])
        assert r.status == 200, r
        up = b.wait_requests(1)[0]
        assert up.headers_all("Remote-User") == ["alice"]
        s = a.seen()[0]
        assert s.headers_all("Cookie") == ["theme=dark; session=s3ss10n-alice"]
        assert s.header("X-Forwarded-Uri") == "/app/h2?z=1"
        assert s.header("X-Forwarded-Host") == FRONT
        # Refused: the auth service's 401 with its body, on the same connection.
        r = c.request("GET", "/app/h2")
        assert r.status == 401, r
        assert r.body == b"login required\n"
        assert r.header("www-authenticate") == 'Bearer realm="test-auth"'
        assert "forward_auth" in r.header("proxy-status")
        r = c.request("GET", "/app/doc", headers=[("accept", "text/html")])
        assert r.status == 302 and r.header("location").startswith(LOGIN), r
        assert r.headers_all("set-cookie") == ["auth_flow=started; Path=/; HttpOnly", "auth_lang=en; Path=/"]
        assert len(b.requests) == 1


def test_websocket_route(gatehouse, auth):
    a = auth()
    wsb = ws_helpers.ScriptedWsBackend(lambda conn: None)
    try:
        gh = front(gatehouse, wsb, a.url(), path="/ws")
        with connect(gh.port, timeout=5) as s:
            s.sendall(ws_helpers.upgrade_request("/ws/x", host=FRONT))
            r = read_response(SockReader(s))
            assert r.status == 401 and r.body == b"login required\n", r
            assert not r.has("sec-websocket-accept")
        assert not wsb.conns
        ws = ws_helpers.raw_ws_connect(gh.port, "/ws/x", extra=[ALICE, ("Remote-User", "root")])
        ws.close()
        conn = wsb.wait_conn(1)
        assert conn.request.headers_all("Remote-User") == ["alice"], conn.request.headers
        s = a.seen()[-1]
        assert s.header("X-Forwarded-Method") == "GET" and s.header("X-Forwarded-Uri") == "/ws/x"
    finally:
        wsb.stop()


def test_websocket_over_http2(gatehouse, auth):
    from test_http2 import H2Client
    a = auth()
    wsb = ws_helpers.ScriptedWsBackend(lambda conn: None)
    try:
        gh = front(gatehouse, wsb, a.url(), path="/ws")
        with H2Client(gh.port) as c:
            c.wait_settings()
            sid = c.start("CONNECT", "/ws/x", extra_pseudo=[(":protocol", "websocket")],
                          headers=[("sec-websocket-version", "13")], end=False)
            st = c.streams[sid]
            assert c.wait(lambda: st.done, 5), st
            assert st.status == 401 and st.body == b"login required\n", st
            sid = c.start("CONNECT", "/ws/x", extra_pseudo=[(":protocol", "websocket")],
                          headers=[("sec-websocket-version", "13"), ("authorization", "Bearer t0ken-bob"),
                                   ("remote-user", "root")], end=False)
            st = c.streams[sid]
            assert c.wait(lambda: st.raw_headers is not None or st.done, 5), st
            assert st.status == 200, st
        conn = wsb.wait_conn(1)
        assert conn.request.headers_all("Remote-User") == ["bob"], conn.request.headers
        assert a.seen()[-1].header("X-Forwarded-Method") == "GET"
    finally:
        wsb.stop()


# --------------------------------------------------------------------------
# Order and configuration


def test_runs_after_basic_auth_and_access(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    srv = {"reverse_proxy": [route(b, "/", access={"deny": ["127.0.0.1"]},
                                   forward_auth={"url": a.url()})]}
    gh = gatehouse({"server": srv})
    r = get(gh.port, headers=[ALICE])
    assert r.status == 403
    assert not a.seen()   # access refused first: no sub-request


def test_server_wide_forward_auth_replaced_by_route(gatehouse, capture_backend, auth):
    a = auth()
    b = capture_backend()
    srv = {"forward_auth": {"url": a.url()},
           "reverse_proxy": [route(b, "/public", forward_auth={"url": a.url("/partial")}),
                             route(b, "/")]}
    gh = gatehouse({"server": srv})
    assert get(gh.port, "/private").status == 401
    assert get(gh.port, "/public/x").status == 200


def test_check_refuses_bad_forward_auth(tmp_path):
    for fa, needle in (({"url": "ftp://x/verify"}, "http:// or https://"),
                       ({"copy_headers": ["Remote-User"]}, "needs a 'url'"),
                       ({"url": "http://a/v", "copy_headers": ["Content-Length"]}, "Content-Length"),
                       ({"url": "http://a/v", "timeout": "soon"}, "timeout")):
        conf = tmp_path / "gh.yaml"
        conf.write_text(helpers.to_yaml({"server": {"reverse_proxy": [
            {"path": "/", "host": "127.0.0.1", "port": 9, "forward_auth": fa}]}}) + "\n")
        r = helpers.run_gatehouse("check", "-c", str(conf))
        assert r.returncode != 0, (fa, r.stdout, r.stderr)
        out = r.stdout + r.stderr
        assert re.search(r"gh\.yaml:\d+:\d+: ", out), out
        assert needle in out, out
