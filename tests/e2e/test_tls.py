"""TLS end to end (issue 4): front TLS listeners, SNI certificate selection,
protocol versions, ALPN, forwarding headers, HSTS, HTTP -> HTTPS redirects,
verified TLS to backends (CA, host name, opt-out, mTLS), config rejection of
bad certificate files, certificate reload on SIGHUP, and WebSockets over TLS.

Every certificate and key is made at test time by trustme in the test's
temporary directory; nothing secret is committed.
"""

import os
import re
import signal
import ssl
import subprocess
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import trustme

import helpers
import tls_helpers as th
from helpers import HOST, free_port, route, run_gatehouse

FRONT = "front.test"
CONFIG_ERROR_RE = re.compile(r"^\S+\.yaml:\d+:\d+: ", re.M)


# --------------------------------------------------------------------------
# Certificates (once per module: RSA key generation is slow on a busy box)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    intermediate = ca.create_child_ca()
    other_ca = trustme.CA()
    client_ca = trustme.CA()
    p = SimpleNamespace(dir=d, ca_obj=ca)
    p.ca = th.write_ca(ca, d / "ca.pem")
    p.other_ca = th.write_ca(other_ca, d / "other-ca.pem")
    p.client_ca = th.write_ca(client_ca, d / "client-ca.pem")
    # Front certificates. alpha is issued by an intermediate: the chain file
    # holds leaf + intermediate, clients trust only the root.
    p.default = th.write_leaf(ca, d, "default", ["default.test"], "default-cert")
    p.alpha = th.write_leaf(intermediate, d, "alpha", ["alpha.test", "www.alpha.test"],
                            "alpha-cert")
    p.wild = th.write_leaf(ca, d, "wild", ["*.wild.test"], "wild-cert")
    p.exact = th.write_leaf(ca, d, "exact", ["exact.wild.test"], "exact-cert")
    p.extra = th.write_leaf(ca, d, "extra", ["extra.test"], "extra-cert")
    # Backend certificates.
    p.backend = th.write_leaf(ca, d, "backend", ["backend.test", "127.0.0.1"], "backend-cert")
    p.backend_other_name = th.write_leaf(ca, d, "backend-other-name", ["other.test"],
                                         "other-name-cert")
    p.backend_other_ca = th.write_leaf(other_ca, d, "backend-other-ca",
                                       ["backend.test", "127.0.0.1"], "other-ca-cert")
    # Client certificate for mTLS to backends.
    p.client = th.write_leaf(client_ca, d, "client", ["gatehouse-client.test"],
                             "gatehouse-client")
    return p


def ssl_block(pki, separate_port=True, extra_certs=True, **more):
    """The `ssl` block: default certificate + alpha, wildcard and exact SNI
    certificates (the exact one listed after the wildcard on purpose)."""
    block = {"enabled": True}
    if separate_port:
        block["port"] = free_port()
    block["cert_file"] = str(pki.default.cert)
    block["key_file"] = str(pki.default.key)
    if extra_certs:
        block["certificates"] = [{"cert_file": str(leaf.cert), "key_file": str(leaf.key)}
                                 for leaf in (pki.alpha, pki.wild, pki.exact)]
    block.update(more)
    return block


def front(gatehouse, pki, routes, separate_port=True, server=None, **ssl_more):
    cfg = {"server": dict(server or {}, reverse_proxy=routes),
           "ssl": ssl_block(pki, separate_port=separate_port, **ssl_more)}
    gh = gatehouse(cfg)
    assert gh.tls_port, gh.listeners
    return gh


@pytest.fixture
def tls_front(gatehouse, origin, pki):
    """A dual-listener gatehouse (plain server.port + TLS ssl.port) in front of
    a demo origin."""
    o = origin()
    gh = front(gatehouse, pki, [route(o, "/")])
    gh.origin = o
    return gh


@pytest.fixture
def tls_backend():
    started = []

    def start(leaf, **kw):
        b = th.TlsBackend(leaf.cert, leaf.key, **kw)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def proxy_status(resp):
    return resp.header("proxy-status") or ""


# --------------------------------------------------------------------------
# Listeners


def test_dual_listeners_announced(tls_front):
    logs = tls_front.logs()
    assert f"listening on 127.0.0.1:{tls_front.port} (http)" in logs
    assert f"listening on 127.0.0.1:{tls_front.tls_port} (https)" in logs
    r = th.https_request(tls_front.tls_port, target="/small", sni="alpha.test", verify=False)
    assert r.status == 200 and r.body == b"hello, world\n"
    r = helpers.http_request(tls_front.port, target="/small")
    assert r.status == 200 and r.body == b"hello, world\n"


def test_tls_on_server_port_pyserve_shape(gatehouse, origin, pki):
    """PyServe's `ssl: {enabled, cert_file, key_file}` without `port`:
    server.port itself speaks TLS."""
    o = origin()
    port = free_port()
    cfg = {"server": {"port": port, "reverse_proxy": [route(o, "/")]},
           "ssl": {"enabled": True, "cert_file": str(pki.default.cert),
                   "key_file": str(pki.default.key)}}
    gh = gatehouse(cfg)
    assert gh.listeners == {port: "https"}
    assert f"listening on 127.0.0.1:{port} (https)" in gh.logs()
    r = th.https_request(port, target="/echo?x=1", sni="default.test", cafile=pki.ca,
                         host=f"default.test:{port}")
    assert r.status == 200, r
    assert r.peer_cn == "default-cert"
    seen = r.json()
    assert seen["path"] == "/echo?x=1"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert seen["headers"]["x-forwarded-port"] == str(port)
    # Plain HTTP on the TLS port is not proxied.
    data = helpers.raw_exchange(port, helpers.build_request("GET", "/echo"), timeout=3.0)
    assert b'"x-forwarded-proto"' not in data
    assert not data.startswith(b"HTTP/1.1 200")


# --------------------------------------------------------------------------
# Certificate selection by SNI


SNI_CASES = [
    ("default.test", "default-cert"),
    ("alpha.test", "alpha-cert"),
    ("www.alpha.test", "alpha-cert"),
    ("x.wild.test", "wild-cert"),           # wildcard
    ("exact.wild.test", "exact-cert"),      # exact beats wildcard, even listed later
    ("a.b.wild.test", "default-cert"),      # a wildcard covers one label only
    ("wild.test", "default-cert"),
    ("unknown.test", "default-cert"),       # unknown name: the default
    (None, "default-cert"),                 # no SNI: the default
]


@pytest.mark.parametrize("sni,cn", SNI_CASES, ids=[str(c[0]) for c in SNI_CASES])
def test_sni_selects_certificate_python(tls_front, sni, cn):
    assert th.peer_cn(tls_front.tls_port, sni) == cn


def test_sni_names_compared_without_case(tls_front):
    rc, out = th.s_client(tls_front.tls_port, "-servername", "ALPHA.Test")
    assert th.s_client_subject_cn(out) == "alpha-cert", out[-2000:]
    rc, out = th.s_client(tls_front.tls_port, "-servername", "X.WILD.TEST")
    assert th.s_client_subject_cn(out) == "wild-cert", out[-2000:]


S_CLIENT_CASES = [
    ("alpha.test", "alpha-cert", True),
    ("x.wild.test", "wild-cert", True),
    ("exact.wild.test", "exact-cert", True),
    ("default.test", "default-cert", True),
    ("unknown.test", "default-cert", False),
    (None, "default-cert", False),
]


@pytest.mark.parametrize("sni,cn,name_matches", S_CLIENT_CASES,
                         ids=[str(c[0]) for c in S_CLIENT_CASES])
def test_sni_openssl_s_client(tls_front, pki, sni, cn, name_matches):
    args = ["-CAfile", str(pki.ca), "-verify_return_error"]
    if sni is None:
        args += ["-noservername"]
    else:
        args += ["-servername", sni]
        if name_matches:
            args += ["-verify_hostname", sni]
    rc, out = th.s_client(tls_front.tls_port, *args)
    assert rc == 0, out[-3000:]
    assert th.s_client_subject_cn(out) == cn, out[-3000:]
    # The chain (intermediate included for alpha) verifies against the root.
    assert "Verify return code: 0 (ok)" in out, out[-3000:]


@pytest.mark.parametrize("name,cn", [("alpha.test", "alpha-cert"), ("x.wild.test", "wild-cert"),
                                     ("exact.wild.test", "exact-cert"),
                                     ("default.test", "default-cert")])
def test_sni_curl_verified(tls_front, pki, name, cn):
    port = tls_front.tls_port
    rc, out, err = th.curl("-sS", "-v", "--cacert", str(pki.ca),
                           "--resolve", f"{name}:{port}:127.0.0.1",
                           "-o", "/dev/null", "-w", "%{http_code}",
                           f"https://{name}:{port}/small")
    assert rc == 0, err[-3000:]
    assert out == "200"
    assert th.curl_subject_cn(err) == cn, err[-3000:]


def test_sni_curl_unknown_name_and_no_sni_get_default(tls_front, pki):
    port = tls_front.tls_port
    # Unknown name: the default certificate is served (the handshake does not
    # fail), so a verifying client rejects the name (curl exit 60) ...
    rc, out, err = th.curl("-sS", "-v", "--cacert", str(pki.ca),
                           "--resolve", f"unknown.test:{port}:127.0.0.1",
                           "-o", "/dev/null", f"https://unknown.test:{port}/small")
    assert rc == 60, (rc, err[-3000:])
    # ... and a non-verifying one gets the default certificate and an answer.
    rc, out, err = th.curl("-sS", "-v", "-k", "--resolve", f"unknown.test:{port}:127.0.0.1",
                           "-o", "/dev/null", "-w", "%{http_code}",
                           f"https://unknown.test:{port}/small")
    assert rc == 0 and out == "200", err[-3000:]
    assert th.curl_subject_cn(err) == "default-cert", err[-3000:]
    # curl sends no SNI to an IP address.
    rc, out, err = th.curl("-sS", "-v", "-k", "-o", "/dev/null", "-w", "%{http_code}",
                           f"https://127.0.0.1:{port}/small")
    assert rc == 0 and out == "200", err[-3000:]
    assert th.curl_subject_cn(err) == "default-cert", err[-3000:]


def test_full_chain_sent(tls_front):
    rc, out = th.s_client(tls_front.tls_port, "-servername", "alpha.test", "-showcerts")
    assert out.count("-----BEGIN CERTIFICATE-----") == 2, out[-3000:]
    rc, out = th.s_client(tls_front.tls_port, "-servername", "default.test", "-showcerts")
    assert out.count("-----BEGIN CERTIFICATE-----") == 1, out[-3000:]


# --------------------------------------------------------------------------
# Protocol versions, ciphers, ALPN, resumption


@pytest.mark.parametrize("version,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_tls12_and_tls13_work(tls_front, pki, version, name):
    r = th.https_request(tls_front.tls_port, target="/small", sni="alpha.test", cafile=pki.ca,
                         min_version=version, max_version=version)
    assert r.status == 200 and r.body == b"hello, world\n"
    assert r.tls_version == name


@pytest.mark.parametrize("flag,name", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls12_and_tls13_s_client(tls_front, pki, flag, name):
    rc, out = th.s_client(tls_front.tls_port, flag, "-servername", "alpha.test",
                          "-CAfile", str(pki.ca), "-verify_return_error")
    assert rc == 0, out[-3000:]
    proto, cipher = th.s_client_protocol(out)
    assert proto == name, out[-3000:]
    if name == "TLSv1.2":
        # ECDHE with AEAD only.
        assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_tls_refused_s_client(tls_front, flag):
    # SECLEVEL=0 lets OpenSSL 3 even offer TLS 1.0/1.1; the server must refuse.
    rc, out = th.s_client(tls_front.tls_port, flag, "-cipher", "DEFAULT@SECLEVEL=0",
                          "-servername", "alpha.test")
    assert rc != 0, out[-3000:]
    proto, cipher = th.s_client_protocol(out)
    assert proto in (None, "(NONE)") and cipher in (None, "(NONE)"), out[-3000:]
    # The client did send a hello; the server refused it with a
    # protocol_version alert (docs/tls.md).
    assert "no protocols available" not in out, out[-3000:]
    assert "alert protocol version" in out, out[-3000:]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1],
                         ids=["TLSv1.0", "TLSv1.1"])
def test_old_tls_refused_python(tls_front, version):
    with pytest.raises(ssl.SSLError) as e:
        th.tls_connect(tls_front.tls_port, sni="alpha.test", verify=False,
                       min_version=version, max_version=version,
                       ciphers="DEFAULT@SECLEVEL=0")
    assert "ALERT_PROTOCOL_VERSION" in str(e.value).upper(), e.value


def test_weak_tls12_cipher_refused(tls_front):
    # Plain RSA key exchange with CBC: not in the ECDHE+AEAD list.
    rc, out = th.s_client(tls_front.tls_port, "-tls1_2", "-cipher", "AES128-SHA",
                          "-servername", "alpha.test")
    assert rc != 0, out[-3000:]
    assert th.s_client_protocol(out)[1] in (None, "(NONE)"), out[-3000:]


def test_alpn_http11_s_client(tls_front):
    rc, out = th.s_client(tls_front.tls_port, "-alpn", "http/1.1", "-servername", "alpha.test")
    assert rc == 0, out[-3000:]
    assert "ALPN protocol: http/1.1" in out, out[-3000:]


def test_alpn_h2_preferred_http11_when_asked_and_requests_work(tls_front, pki):
    """server.http2 is on by default: h2 wins when offered (RFC 9113 3.2),
    http/1.1 is served to clients that offer only it or no ALPN at all."""
    c = th.tls_connect(tls_front.tls_port, sni="alpha.test", verify=False, alpn=["h2", "http/1.1"])
    try:
        assert c.selected_alpn_protocol() == "h2"
    finally:
        c.close()
    r = th.https_request(tls_front.tls_port, target="/small", sni="alpha.test", cafile=pki.ca,
                         alpn=["http/1.1"])
    assert r.alpn == "http/1.1"
    assert r.status == 200 and r.body == b"hello, world\n"
    # No ALPN at all: served HTTP/1.1.
    r = th.https_request(tls_front.tls_port, target="/small", sni="alpha.test", cafile=pki.ca)
    assert r.alpn is None
    assert r.status == 200


def test_alpn_only_unknown_protocol_refused(tls_front):
    """docs/tls.md: a client that offers only protocols we don't speak gets
    the no_application_protocol alert (RFC 7301)."""
    with pytest.raises(ssl.SSLError) as e:
        th.tls_connect(tls_front.tls_port, sni="alpha.test", verify=False, alpn=["spdy/3.1"])
    assert re.search(r"no.application.protocol", str(e.value), re.I), e.value


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption(tls_front, pki, version):
    ctx = th.client_context(cafile=pki.ca, min_version=version, max_version=version)
    with th.TlsClient(tls_front.tls_port, sni="alpha.test", ctx=ctx) as c:
        # A request/response first: TLS 1.3 tickets arrive after the handshake.
        assert c.request(target="/small").status == 200
        session = c.sock.session
        assert not c.sock.session_reused
    assert session is not None and session.has_ticket
    with th.TlsClient(tls_front.tls_port, sni="alpha.test", ctx=ctx, session=session) as c:
        assert c.sock.session_reused
        assert c.request(target="/small").status == 200


# --------------------------------------------------------------------------
# Forwarding headers


def test_forwarded_proto_and_port_reflect_listener(tls_front, pki):
    tp, pp = tls_front.tls_port, tls_front.port
    r = th.https_request(tp, target="/echo", sni="alpha.test", cafile=pki.ca,
                         host=f"alpha.test:{tp}")
    assert r.status == 200
    h = r.json()["headers"]
    assert h["x-forwarded-proto"] == "https"
    assert h["x-forwarded-port"] == str(tp)
    assert h["x-forwarded-host"] == f"alpha.test:{tp}"
    assert h["host"] == f"alpha.test:{tp}"
    r = helpers.http_request(pp, target="/echo", host=f"alpha.test:{pp}")
    h = r.json()["headers"]
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-port"] == str(pp)


def test_forwarded_rfc7239_proto_https(gatehouse, origin, pki):
    o = origin()
    gh = front(gatehouse, pki, [route(o, "/")], server={"forwarded": "rfc7239"})
    r = th.https_request(gh.tls_port, target="/echo", sni="alpha.test", cafile=pki.ca,
                         host="alpha.test")
    fwd = r.json()["headers"].get("forwarded", "")
    assert re.search(r"proto=https", fwd), fwd
    r = helpers.http_request(gh.port, target="/echo", host="alpha.test")
    fwd = r.json()["headers"].get("forwarded", "")
    assert re.search(r"proto=http(;|,|$)", fwd), fwd


def test_backend_http_location_mapped_to_https_after_offload(gatehouse, origin, pki):
    """preserve_host: false and a TLS front: the backend's absolute
    http://backend/... Location is mapped back to what the client used."""
    o = origin()
    gh = front(gatehouse, pki, [route(o, "/", preserve_host=False)])
    target = "/redirect?to=" + quote(f"http://127.0.0.1:{o.port}/x?y=1", safe="")
    r = th.https_request(gh.tls_port, target=target, sni="alpha.test", cafile=pki.ca,
                         host="alpha.test")
    assert r.status == 302
    assert r.header("location") == "https://alpha.test/x?y=1"


# --------------------------------------------------------------------------
# HSTS


def test_hsts_on_tls_responses_only(gatehouse, origin, pki):
    o = origin()
    gh = front(gatehouse, pki, [route(o, "/app")], hsts="1h")
    r = th.https_request(gh.tls_port, target="/app/x", sni="alpha.test", cafile=pki.ca)
    assert r.status == 200
    assert r.headers_all("strict-transport-security") == ["max-age=3600"]
    # A response gatehouse makes itself over TLS carries it too.
    r = th.https_request(gh.tls_port, target="/nothing-here", sni="alpha.test", cafile=pki.ca)
    assert r.status == 404
    assert r.headers_all("strict-transport-security") == ["max-age=3600"]
    # Never on plain HTTP.
    r = helpers.http_request(gh.port, target="/app/x")
    assert r.status == 200
    assert not r.has("strict-transport-security")
    r = helpers.http_request(gh.port, target="/nothing-here")
    assert r.status == 404
    assert not r.has("strict-transport-security")


def test_no_hsts_by_default(tls_front, pki):
    r = th.https_request(tls_front.tls_port, target="/small", sni="alpha.test", cafile=pki.ca)
    assert r.status == 200
    assert not r.has("strict-transport-security")


# --------------------------------------------------------------------------
# HTTP -> HTTPS redirects


def test_redirect_http_gives_https_location(gatehouse, origin, pki):
    o = origin()
    gh = front(gatehouse, pki, [route(o, "/")], redirect_http=True, hsts="1h")
    tp, pp = gh.tls_port, gh.port
    cases = [
        ("/p/x?q=1&r=a%20b", f"{FRONT}:{pp}", f"https://{FRONT}:{tp}/p/x?q=1&r=a%20b"),
        ("/p/x?q=1", FRONT, f"https://{FRONT}:{tp}/p/x?q=1"),
        ("/", FRONT, f"https://{FRONT}:{tp}/"),
        ("/a/b/?", f"{FRONT}:{pp}", f"https://{FRONT}:{tp}/a/b/?"),
        ("/v6", f"[::1]:{pp}", f"https://[::1]:{tp}/v6"),
    ]
    for target, host, location in cases:
        r = helpers.http_request(pp, target=target, host=host)
        assert r.status == 301, (target, r)
        assert r.header("location") == location, (target, host, r)
        assert not r.has("strict-transport-security")
    # Every method, a body included.
    r = helpers.http_request(pp, method="POST", target="/form?x=2", body=b"a=1", host=FRONT)
    assert r.status == 301
    assert r.header("location") == f"https://{FRONT}:{tp}/form?x=2"
    # Several redirects on one keep-alive connection.
    with helpers.connect(pp) as s:
        reader = helpers.SockReader(s)
        for i in range(3):
            s.sendall(helpers.build_request("GET", f"/k{i}?n={i}", host=FRONT))
            r = helpers.read_response(reader)
            assert r.status == 301
            assert r.header("location") == f"https://{FRONT}:{tp}/k{i}?n={i}"
    # The TLS listener proxies (no redirect loop).
    r = th.https_request(tp, target="/p/x?q=1", sni="alpha.test", cafile=pki.ca, host=FRONT)
    assert r.status == 200
    assert r.json()["path"] == "/p/x?q=1"
    assert r.headers_all("strict-transport-security") == ["max-age=3600"]


def test_route_redirect_https(gatehouse, origin, pki):
    o = origin()
    routes = [route(o, "/secure", redirect="https"), route(o, "/")]
    gh = front(gatehouse, pki, routes)
    tp, pp = gh.tls_port, gh.port
    r = helpers.http_request(pp, target="/secure/a?b=1&c=%2F", host=f"{FRONT}:{pp}")
    assert r.status == 301, r
    assert r.header("location") == f"https://{FRONT}:{tp}/secure/a?b=1&c=%2F"
    r = helpers.http_request(pp, target="/secure", host=FRONT)
    assert r.status == 301
    assert r.header("location") == f"https://{FRONT}:{tp}/secure"
    # Other routes on the plain listener are proxied.
    r = helpers.http_request(pp, target="/other?x=1", host=FRONT)
    assert r.status == 200 and r.json()["path"] == "/other?x=1"
    # Over TLS the redirect route proxies.
    r = th.https_request(tp, target="/secure/a?b=1", sni="alpha.test", cafile=pki.ca,
                         host=FRONT)
    assert r.status == 200, r
    assert r.json()["path"] == "/secure/a?b=1"


def test_route_redirect_https_default_port_has_no_port(gatehouse, origin):
    """No TLS listener of our own (TLS terminated in front of us on 443): the
    https:// form of the URL carries no port."""
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/secure", redirect="https"),
                                                 route(o, "/")]}})
    r = helpers.http_request(gh.port, target="/secure/a?b=1", host=f"{FRONT}:{gh.port}")
    assert r.status == 301, r
    assert r.header("location") == f"https://{FRONT}/secure/a?b=1"


# --------------------------------------------------------------------------
# Backend TLS


def tls_route(backend, path="/", **tls):
    r = route(backend, path, ssl=True)
    if tls:
        r["tls"] = tls
    return r


def proxy_get(gh, target="/b", host=FRONT):
    return helpers.http_request(gh.port, target=target, host=host)


def test_backend_tls_good_ca_and_sni(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend)
    gh = gatehouse({"server": {"reverse_proxy": [
        tls_route(b, ca_file=str(pki.ca), sni="backend.test")]}})
    r = proxy_get(gh, "/b?x=1")
    assert r.status == 200, r
    seen = r.json()
    assert seen["backend"] == "tls-backend"
    assert seen["path"] == "/b?x=1"
    assert seen["sni"] == "backend.test"
    assert seen["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert not r.has("proxy-status")


def test_backend_tls_ip_literal_checked_against_ip_san(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend)
    gh = gatehouse({"server": {"reverse_proxy": [tls_route(b, ca_file=str(pki.ca))]}})
    r = proxy_get(gh)
    assert r.status == 200, r
    assert r.json()["sni"] is None  # no SNI for an IP literal (RFC 6066)


def test_backend_tls_wrong_ca(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend_other_ca)
    gh = gatehouse({"server": {"reverse_proxy": [
        tls_route(b, ca_file=str(pki.ca), sni="backend.test")]}})
    r = proxy_get(gh)
    assert r.status == 502, r
    ps = proxy_status(r)
    assert "error=tls_certificate_error" in ps, ps
    assert ps.startswith("gatehouse"), ps
    assert f'next-hop="127.0.0.1:{b.port}"' in ps, ps
    assert all(c.requests == 0 for c in b.handshakes)


def test_backend_tls_system_store_does_not_trust_test_ca(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend)
    gh = gatehouse({"server": {"reverse_proxy": [tls_route(b, sni="backend.test")]}})
    r = proxy_get(gh)
    assert r.status == 502, r
    assert "error=tls_certificate_error" in proxy_status(r), r


def test_backend_tls_wrong_host_name(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend_other_name)   # certificate for other.test only
    gh = gatehouse({"server": {"reverse_proxy": [
        tls_route(b, ca_file=str(pki.ca), sni="backend.test")]}})
    r = proxy_get(gh)
    assert r.status == 502, r
    ps = proxy_status(r)
    assert "error=tls_certificate_error" in ps, ps
    assert "mismatch" in ps, ps  # details name the reason (docs/tls.md)
    assert all(c.requests == 0 for c in b.handshakes)


def test_backend_tls_ip_literal_without_ip_san_fails(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend_other_name)
    gh = gatehouse({"server": {"reverse_proxy": [tls_route(b, ca_file=str(pki.ca))]}})
    r = proxy_get(gh)
    assert r.status == 502, r
    assert "error=tls_certificate_error" in proxy_status(r), r


def test_backend_tls_verify_false(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend_other_ca)
    gh = gatehouse({"server": {"reverse_proxy": [
        tls_route(b, verify=False, sni="whatever.test")]}})
    r = proxy_get(gh)
    assert r.status == 200, r
    assert r.json()["sni"] == "whatever.test"  # SNI still sent


def test_backend_mtls(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend, client_ca=pki.client_ca)
    gh = gatehouse({"server": {"reverse_proxy": [
        tls_route(b, "/with", ca_file=str(pki.ca), sni="backend.test",
                  cert_file=str(pki.client.cert), key_file=str(pki.client.key)),
        tls_route(b, "/without", ca_file=str(pki.ca), sni="backend.test"),
    ]}})
    r = proxy_get(gh, "/with/x")
    assert r.status == 200, r
    assert r.json()["client_cn"] == "gatehouse-client"
    r = proxy_get(gh, "/without/x")
    assert r.status == 502, r
    assert proxy_status(r).startswith("gatehouse; error="), r
    # The backend refused the handshake for want of a client certificate (its
    # thread may record that a moment after we got the 502).
    refused = lambda: any("certificate" in (c.error or "").lower() for c in b.failures)
    assert helpers.wait_until(refused, 3.0), [vars(c) for c in b.conns]


def test_backend_tls_connections_pooled(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend)
    gh = gatehouse({"server": {"workers": 1, "reverse_proxy": [
        tls_route(b, ca_file=str(pki.ca), sni="backend.test")]}})
    for i in range(4):
        r = proxy_get(gh, f"/p{i}")
        assert r.status == 200, r
    assert len(b.handshakes) == 1, [vars(c) for c in b.conns]
    assert b.handshakes[0].requests == 4


def test_backend_tls_sessions_resumed(gatehouse, tls_backend, pki):
    b = tls_backend(pki.backend, close_each=True)
    gh = gatehouse({"server": {"workers": 1, "reverse_proxy": [
        tls_route(b, ca_file=str(pki.ca), sni="backend.test")]}})
    for i in range(3):
        r = proxy_get(gh, f"/p{i}")
        assert r.status == 200, r
    hs = b.handshakes
    assert len(hs) == 3, [vars(c) for c in b.conns]
    assert not hs[0].session_reused
    assert hs[1].session_reused and hs[2].session_reused, [vars(c) for c in hs]


# --------------------------------------------------------------------------
# Bad certificate files: refused by `check` and by `run`


def _bad_config_cases(pki, d):
    """Files next to the config, named by relative paths (resolved from the
    config file's directory), as a user writes them."""
    for name, src in (("cert.pem", pki.default.cert), ("cert.key", pki.default.key),
                      ("alpha.pem", pki.alpha.cert), ("alpha.key", pki.alpha.key),
                      ("client.pem", pki.client.cert)):
        (d / name).write_bytes(src.read_bytes())
    (d / "garbage.pem").write_text("this is not PEM\n")
    (d / "a-directory.pem").mkdir(exist_ok=True)
    subprocess.run(["openssl", "pkey", "-in", str(pki.default.key), "-aes256",
                    "-passout", "pass:secret", "-out", str(d / "encrypted.key")], check=True,
                   capture_output=True, timeout=20)
    return {
        # name: (ssl block or None, route tls block or None, file the message must name)
        "key_mismatch": (dict(cert_file="./cert.pem", key_file="./alpha.key"), None, "alpha.key"),
        "missing_cert": (dict(cert_file="./missing.pem", key_file="./cert.key"), None,
                         "missing.pem"),
        "missing_key": (dict(cert_file="./cert.pem", key_file="./missing.key"), None,
                        "missing.key"),
        "cert_not_pem": (dict(cert_file="./garbage.pem", key_file="./cert.key"), None,
                         "garbage.pem"),
        "cert_is_directory": (dict(cert_file="./a-directory.pem", key_file="./cert.key"), None,
                              "a-directory.pem"),
        "encrypted_key": (dict(cert_file="./cert.pem", key_file="./encrypted.key"), None,
                          "encrypted.key"),
        "sni_entry_mismatch": (dict(cert_file="./cert.pem", key_file="./cert.key",
                                    certificates=[{"cert_file": "./alpha.pem",
                                                   "key_file": "./cert.key"}]),
                               None, "alpha.pem"),
        "backend_ca_missing": (None, dict(ca_file="./missing-ca.pem"), "missing-ca.pem"),
        "backend_ca_not_pem": (None, dict(ca_file="./garbage.pem"), "garbage.pem"),
        "backend_client_key_mismatch": (None, dict(cert_file="./client.pem",
                                                   key_file="./cert.key"), "client.pem"),
        "backend_cert_without_key": (None, dict(cert_file="./client.pem"), None),
    }


BAD_CASES = ["key_mismatch", "missing_cert", "missing_key", "cert_not_pem", "cert_is_directory",
             "encrypted_key", "sni_entry_mismatch", "backend_ca_missing", "backend_ca_not_pem",
             "backend_client_key_mismatch", "backend_cert_without_key"]


def _write_config(path, ssl_part=None, tls_part=None):
    r = {"path": "/", "host": HOST, "port": 9}
    if tls_part is not None:
        r["ssl"] = True
        r["tls"] = dict(tls_part)
    cfg = {"server": {"host": HOST, "port": free_port(), "reverse_proxy": [r]}}
    if ssl_part is not None:
        cfg["ssl"] = {"enabled": True, "port": free_port(), **ssl_part}
    path.write_text(helpers.to_yaml(cfg) + "\n")
    return path


def _assert_refused(path, named, cwd):
    p = run_gatehouse("check", "-c", str(path), cwd=cwd)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert CONFIG_ERROR_RE.search(p.stderr), p.stderr
    if named is not None:
        assert named in p.stderr, p.stderr
    try:
        p = run_gatehouse("run", "-c", str(path), cwd=cwd, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("gatehouse run started with a bad certificate config")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "listening on" not in p.stdout + p.stderr
    if named is not None:
        assert named in p.stderr, p.stderr


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_certificate_config_rejected(tmp_path, pki, case):
    conf = tmp_path / "conf"
    conf.mkdir()
    ssl_part, tls_part, named = _bad_config_cases(pki, conf)[case]
    path = _write_config(conf / "gatehouse.yaml", ssl_part, tls_part)
    # Run from another directory: relative paths belong to the config file.
    _assert_refused(path, named, cwd=str(tmp_path))


def test_missing_cert_with_long_absolute_path_is_named(tmp_path, pki):
    """A realistic deep path (over 60 characters): the message must still
    name the file."""
    live = tmp_path / "etc" / "letsencrypt" / "live" / "www.example-company.com"
    live.mkdir(parents=True)
    (live / "privkey.pem").write_bytes(pki.default.key.read_bytes())
    cert = live / "fullchain.pem"
    assert len(str(cert)) > 60
    path = _write_config(tmp_path / "gatehouse.yaml",
                         dict(cert_file=str(cert), key_file=str(live / "privkey.pem")))
    _assert_refused(path, "fullchain.pem", cwd=str(tmp_path))


def test_good_certificate_config_passes_check_with_relative_paths(tmp_path, pki):
    conf = tmp_path / "conf"
    (conf / "ssl").mkdir(parents=True)
    for leaf, stem in ((pki.default, "cert"), (pki.alpha, "alpha")):
        (conf / "ssl" / f"{stem}.pem").write_bytes(leaf.cert.read_bytes())
        (conf / "ssl" / f"{stem}.key").write_bytes(leaf.key.read_bytes())
    (conf / "gatehouse.yaml").write_text(
        "server:\n  host: 127.0.0.1\n  port: 8080\n  reverse_proxy:\n"
        "    - path: /\n      host: 127.0.0.1\n      port: 9\n"
        "ssl:\n  enabled: true\n  port: 8443\n  cert_file: ./ssl/cert.pem\n"
        "  key_file: ./ssl/cert.key\n  certificates:\n"
        "    - cert_file: ./ssl/alpha.pem\n      key_file: ./ssl/alpha.key\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = run_gatehouse("check", "-c", str(conf / "gatehouse.yaml"), cwd=str(elsewhere))
    assert p.returncode == 0, p.stderr


def test_disabled_ssl_block_with_placeholder_paths_is_valid(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("server:\n  port: 8080\n  reverse_proxy:\n    - path: /\n      port: 3000\n"
                    "ssl:\n  enabled: false\n  cert_file: ./ssl/nope.pem\n"
                    "  key_file: ./ssl/nope.key\n")
    p = run_gatehouse("check", "-c", str(path))
    assert p.returncode == 0, p.stderr


# --------------------------------------------------------------------------
# Reload on SIGHUP


def _live_front(gatehouse, origin, pki, tmp_path, **ssl_more):
    live = tmp_path / "live"
    live.mkdir()
    (live / "cert.pem").write_bytes(pki.default.cert.read_bytes())
    (live / "key.pem").write_bytes(pki.default.key.read_bytes())
    o = origin()
    cfg = {"server": {"reverse_proxy": [route(o, "/")]},
           "ssl": {"enabled": True, "port": free_port(), "cert_file": str(live / "cert.pem"),
                   "key_file": str(live / "key.pem"), **ssl_more}}
    return gatehouse(cfg), live


def _replace(path, data):
    tmp = Path(str(path) + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_sighup_reloads_certificates_keeping_open_connections(gatehouse, origin, pki, tmp_path):
    gh, live = _live_front(gatehouse, origin, pki, tmp_path)
    tp = gh.tls_port
    old = th.TlsClient(tp, sni="default.test", cafile=pki.ca)
    try:
        assert old.request(target="/small").status == 200
        old_serial = old.peer_serial
        assert old.peer_cn == "default-cert"
        new = th.write_leaf(pki.ca_obj, tmp_path / "new", "new", ["default.test"],
                            "reloaded-cert")
        _replace(live / "cert.pem", new.cert.read_bytes())
        _replace(live / "key.pem", new.key.read_bytes())
        gh.signal(signal.SIGHUP)
        assert th.wait_for(lambda: th.peer_cn(tp, "default.test") == "reloaded-cert", 10), \
            gh.logs()[-3000:]
        # A new, verifying connection gets the new certificate (new serial).
        with th.TlsClient(tp, sni="default.test", cafile=pki.ca) as c:
            assert c.peer_cn == "reloaded-cert"
            assert c.peer_serial != old_serial
            assert c.request(target="/small").status == 200
        # The keep-alive connection opened before the reload still works.
        for _ in range(3):
            r = old.request(target="/small")
            assert r.status == 200 and r.body == b"hello, world\n"
        assert old.peer_serial == old_serial
    finally:
        old.close()
    assert gh.proc.poll() is None


def test_sighup_with_broken_certificate_keeps_old_one(gatehouse, origin, pki, tmp_path):
    gh, live = _live_front(gatehouse, origin, pki, tmp_path)
    tp = gh.tls_port
    # A certificate whose key does not match: the reload must be refused.
    _replace(live / "cert.pem", pki.alpha.cert.read_bytes())
    gh.signal(signal.SIGHUP)
    assert th.wait_for(lambda: "cert.pem" in gh.stderr() or "key.pem" in gh.stderr(), 10), \
        gh.logs()[-3000:]
    for _ in range(3):
        r = th.https_request(tp, target="/small", sni="default.test", cafile=pki.ca)
        assert r.status == 200
        assert r.peer_cn == "default-cert"
    assert gh.proc.poll() is None


def test_sighup_config_reload_adds_sni_certificate(gatehouse, origin, pki, tmp_path):
    gh, live = _live_front(gatehouse, origin, pki, tmp_path)
    tp = gh.tls_port
    assert th.peer_cn(tp, "extra.test") == "default-cert"
    cfg = dict(gh.config)
    cfg["ssl"] = dict(cfg["ssl"], certificates=[{"cert_file": str(pki.extra.cert),
                                                  "key_file": str(pki.extra.key)}])
    gh.config_path.write_text(helpers.to_yaml(cfg) + "\n")
    gh.signal(signal.SIGHUP)
    assert th.wait_for(lambda: th.peer_cn(tp, "extra.test") == "extra-cert", 10), \
        gh.logs()[-3000:]
    assert th.peer_cn(tp, "default.test") == "default-cert"
    r = th.https_request(tp, target="/small", sni="extra.test", cafile=pki.ca)
    assert r.status == 200


# --------------------------------------------------------------------------
# WebSockets over TLS


def test_wss_through_proxy_to_ws_origin(tls_front, pki):
    ctx = th.client_context(cafile=pki.ca)
    got = th.ws_echo_roundtrip(tls_front.tls_port, "/ws", tls_ctx=ctx, sni="alpha.test",
                               messages=["hello over tls", b"\x00\x01\x02binary", "x" * 70000])
    assert got == ["hello over tls", b"\x00\x01\x02binary", "x" * 70000]


@pytest.mark.parametrize("client_tls", [False, True], ids=["ws-to-wss", "wss-to-wss"])
def test_websocket_to_wss_backend(gatehouse, pki, client_tls):
    b = th.WssEchoBackend(pki.backend.cert, pki.backend.key)
    try:
        gh = front(gatehouse, pki, [tls_route(b, ca_file=str(pki.ca), sni="backend.test")])
        if client_tls:
            got = th.ws_echo_roundtrip(gh.tls_port, "/ws", tls_ctx=th.client_context(cafile=pki.ca),
                                       sni="alpha.test", messages=["one", b"\xff\x00two"])
        else:
            got = th.ws_echo_roundtrip(gh.port, "/ws", messages=["one", b"\xff\x00two"])
        assert got == ["one", b"\xff\x00two"]
        [hs] = b.handshakes
        assert hs["x-forwarded-proto"] == ("https" if client_tls else "http")
    finally:
        b.stop()
