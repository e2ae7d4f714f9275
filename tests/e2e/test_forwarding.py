"""What the backend really receives: forwarding headers, Via, X-Request-ID,
Host, hop-by-hop removal, and an otherwise unchanged request."""

import re
import time

import helpers
from helpers import route

FRONT = "front.test"


def proxy_to(gatehouse, backend, **server):
    cfg = {"server": dict(server, reverse_proxy=[route(backend, "/")])}
    return gatehouse(cfg)


def exchange(gh, backend, method="GET", target="/x", headers=None, body=b"", host=FRONT):
    """Sends one request through gatehouse; returns (client response, backend request)."""
    before = len(backend.requests)
    resp = helpers.http_request(gh.port, method, target, headers=headers, body=body, host=host)
    assert resp.status == 200, resp
    reqs = backend.wait_requests(before + 1)
    return resp, reqs[before]


def test_x_forwarded_defaults(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b)
    _, req = exchange(gh, b)
    assert req.headers_all("x-forwarded-for") == ["127.0.0.1"]
    assert req.headers_all("x-forwarded-proto") == ["http"]
    assert req.headers_all("x-forwarded-host") == [FRONT]
    assert req.headers_all("x-forwarded-port") == [str(gh.port)]
    assert req.headers_all("x-real-ip") == ["127.0.0.1"]
    assert not req.has("forwarded")


def test_spoofed_forwarding_headers_dropped_from_untrusted_client(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b)
    _, req = exchange(gh, b, headers=[
        ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.test"), ("X-Real-IP", "1.2.3.4")])
    assert req.headers_all("x-forwarded-for") == ["127.0.0.1"]
    assert req.headers_all("x-forwarded-proto") == ["http"]
    assert req.headers_all("x-forwarded-host") == [FRONT]
    assert req.headers_all("x-real-ip") == ["127.0.0.1"]


def test_forwarded_for_appended_from_trusted_proxy(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b, trusted_proxies=["127.0.0.1/32"])
    _, req = exchange(gh, b, headers=[("X-Forwarded-For", "1.2.3.4")])
    xff = ", ".join(req.headers_all("x-forwarded-for"))
    assert re.fullmatch(r"1\.2\.3\.4,\s*127\.0\.0\.1", xff), xff


def test_trusted_proxies_other_network_is_not_trusted(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b, trusted_proxies=["10.0.0.0/8"])
    _, req = exchange(gh, b, headers=[("X-Forwarded-For", "1.2.3.4")])
    assert req.headers_all("x-forwarded-for") == ["127.0.0.1"]


def forwarded_elements(req):
    """Forwarded header -> list of {param: value} (quotes removed)."""
    out = []
    for value in req.headers_all("forwarded"):
        for element in value.split(","):
            params = {}
            for pair in element.split(";"):
                k, _, v = pair.strip().partition("=")
                params[k.lower()] = v.strip('"')
            out.append(params)
    return out


def test_rfc7239(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b, forwarded="rfc7239")
    _, req = exchange(gh, b)
    els = forwarded_elements(req)
    assert len(els) == 1, req.headers_all("forwarded")
    assert els[0]["for"] == "127.0.0.1"
    assert els[0]["proto"] == "http"
    assert els[0]["host"] == FRONT
    assert not req.has("x-forwarded-for")
    # A client outside trusted_proxies cannot inject elements.
    _, req = exchange(gh, b, headers=[("Forwarded", "for=1.2.3.4")])
    els = forwarded_elements(req)
    assert [e["for"] for e in els] == ["127.0.0.1"]


def test_rfc7239_appended_from_trusted_proxy(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b, forwarded="rfc7239", trusted_proxies=["127.0.0.1/32"])
    _, req = exchange(gh, b, headers=[("Forwarded", "for=1.2.3.4;proto=https")])
    els = forwarded_elements(req)
    assert [e["for"] for e in els] == ["1.2.3.4", "127.0.0.1"]


def test_forwarded_both(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b, forwarded="both")
    _, req = exchange(gh, b)
    assert req.headers_all("x-forwarded-for") == ["127.0.0.1"]
    assert [e["for"] for e in forwarded_elements(req)] == ["127.0.0.1"]


def test_forwarded_none(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b, forwarded="none")
    _, req = exchange(gh, b)
    for name in ("forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                 "x-forwarded-port"):
        assert not req.has(name), (name, req.headers)


def test_via_both_ways(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b)
    resp, req = exchange(gh, b)
    assert "1.1 gatehouse" in ", ".join(req.headers_all("via"))
    assert "1.1 gatehouse" in ", ".join(resp.headers_all("via"))
    # An incoming Via is kept, ours appended.
    resp, req = exchange(gh, b, headers=[("Via", "1.0 fred")])
    via = ", ".join(req.headers_all("via"))
    assert re.fullmatch(r"1\.0 fred,\s*1\.1 gatehouse.*", via), via


def test_request_id(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b)
    resp, req = exchange(gh, b)
    rid = req.headers_all("x-request-id")
    assert len(rid) == 1 and rid[0], req.headers
    assert resp.header("x-request-id") == rid[0]
    resp2, req2 = exchange(gh, b)
    assert req2.header("x-request-id") != rid[0]  # fresh per request

    resp, req = exchange(gh, b, headers=[("X-Request-ID", "client-chosen-42")])
    assert req.headers_all("x-request-id") == ["client-chosen-42"]
    assert resp.header("x-request-id") == "client-chosen-42"


def test_host_preserved_by_default(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b)
    _, req = exchange(gh, b, host="front.test:8443")
    assert req.headers_all("host") == ["front.test:8443"]


def test_preserve_host_false_sends_backend_address(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", preserve_host=False)]}})
    _, req = exchange(gh, b)
    assert req.headers_all("host") == [f"127.0.0.1:{b.port}"]
    assert req.headers_all("x-forwarded-host") == [FRONT]


def test_hop_by_hop_removed(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b)
    _, req = exchange(gh, b, headers=[
        ("Connection", "keep-alive, X-Foo"), ("Keep-Alive", "timeout=5"), ("TE", "deflate"),
        ("Proxy-Connection", "keep-alive"), ("X-Foo", "secret"), ("X-Keep", "yes")])
    names = req.names()
    for gone in ("keep-alive", "te", "proxy-connection", "x-foo"):
        assert gone not in names, (gone, req.headers)
    # The proxy may speak its own Connection option upstream, never the client's list.
    for value in req.headers_all("connection"):
        assert value.lower() in ("keep-alive", "close"), value
    assert req.header("x-keep") == "yes"


def test_request_unchanged_otherwise(gatehouse, capture_backend):
    b = capture_backend()
    gh = proxy_to(gatehouse, b)
    body = bytes(range(256)) * 40
    headers = [("X-Custom", "  value with  spaces  "), ("X-Dup", "one"), ("X-Dup", "two"),
               ("Content-Type", "application/octet-stream"), ("Accept", "*/*"),
               ("Authorization", "Bearer abc.def"), ("Cookie", "a=1; b=2")]
    _, req = exchange(gh, b, "PATCH", "/p/a%20th/?q=1&r=%2F&s", headers=headers, body=body)
    assert req.method == "PATCH"
    assert req.target == "/p/a%20th/?q=1&r=%2F&s"
    assert req.version == "HTTP/1.1"
    assert req.body == body
    assert req.header("content-length") == str(len(body))
    assert req.header("x-custom") == "value with  spaces"
    assert req.headers_all("x-dup") == ["one", "two"]
    assert req.header("content-type") == "application/octet-stream"
    assert req.header("authorization") == "Bearer abc.def"
    assert req.header("cookie") == "a=1; b=2"


def test_response_headers_and_body_pass_through(gatehouse, capture_backend):
    b = capture_backend(response=helpers.canned(200, [
        ("Content-Type", "text/x-test"), ("X-Backend", "one"), ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"), ("Cache-Control", "no-store")], body=b"backend body"))
    gh = proxy_to(gatehouse, b)
    resp, _ = exchange(gh, b)
    assert resp.body == b"backend body"
    assert resp.header("content-type") == "text/x-test"
    assert resp.header("x-backend") == "one"
    assert resp.headers_all("set-cookie") == ["a=1", "b=2"]
    assert resp.header("cache-control") == "no-store"
    assert not resp.has("proxy-status")


def test_backend_hop_by_hop_removed_from_response(gatehouse, capture_backend):
    b = capture_backend(response=helpers.canned(200, [
        ("Connection", "X-Internal"), ("X-Internal", "leak"), ("Keep-Alive", "timeout=1"),
        ("X-Ok", "1")], body=b"ok"))
    gh = proxy_to(gatehouse, b)
    resp, _ = exchange(gh, b)
    assert not resp.has("x-internal") and not resp.has("keep-alive")
    assert resp.header("x-ok") == "1"


def test_date_added_when_the_backend_sends_none(gatehouse, capture_backend):
    """RFC 9110 6.6.1: a proxy forwarding a response without Date adds one;
    a backend's own Date passes unchanged."""
    import email.utils
    b = capture_backend(response=lambda req: helpers.canned(
        200, [("Date", "Tue, 01 Jan 2030 00:00:00 GMT")] if "own" in req.target else [], b"x"))
    gh = gatehouse({"server": {"reverse_proxy": [helpers.route(b, "/")]}})
    r = helpers.http_request(gh.port, target="/none")
    dates = r.headers_all("date")
    assert len(dates) == 1, r.headers
    assert abs(email.utils.parsedate_to_datetime(dates[0]).timestamp() - time.time()) < 5
    r = helpers.http_request(gh.port, target="/own")
    assert r.headers_all("date") == ["Tue, 01 Jan 2030 00:00:00 GMT"], r.headers
