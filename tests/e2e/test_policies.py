"""Policies (CONTRACT.md, "Policies (wave 2)"): server_header, obfuscate,
headers, error_pages / intercept_errors and access, each set under `server`
(the default for every route) or in a route (which replaces the server's value
for that key, never merged with it). basic_auth is in test_policy_auth.py.

Requests whose exact bytes matter (dot segments, "//", %XX, keep-alive after a
refused body, upgrades) go out over raw sockets: HTTP libraries would
normalize or change them.
"""

import json
import os
import re
import signal
import textwrap
import time
from pathlib import Path

import pytest
import requests

import helpers
import tls_helpers as th
import ws_helpers
from helpers import (SockReader, build_request, canned, connect, free_port, http_request,
                     read_response, route, run_gatehouse, wait_until)

pytestmark = pytest.mark.deadline(20)  # every test here is meant to take a few seconds

FRONT = "front.test"
PROXY_OWN_HEADERS = ("X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Runtime",
                     "X-Generator")


# --------------------------------------------------------------------------
# Small helpers


def proxy_status(resp):
    return ", ".join(resp.headers_all("proxy-status"))


def assert_denied(resp, policy):
    """A refusal by `policy`: Proxy-Status names http_request_denied and details name it."""
    ps = proxy_status(resp)
    assert "gatehouse" in ps, (resp.status, resp.headers)
    assert "error=http_request_denied" in ps, ps
    m = re.search(r'details="([^"]*)"', ps)
    assert m and policy in m.group(1), ps


def raw_get(port, target, headers=None, host=FRONT, method="GET", body=b""):
    """One request with `target` sent byte for byte (no client normalization)."""
    return http_request(port, method, target, headers=headers, body=body, host=host)


def write_config(tmp_path, text, name="gatehouse.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def config_errors(stderr, path):
    """(line, col, message) of the `FILE:LINE:COL: message` lines naming `path`."""
    rx = re.compile(r"^(?:.*/)?" + re.escape(Path(path).name) + r":(\d+):(\d+): (.+)$")
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in map(rx.match, stderr.splitlines()) if m]


def locate(path, needle):
    """1-based (line, column) of the first occurrence of `needle` in a file."""
    for n, text in enumerate(Path(path).read_text().splitlines(), 1):
        i = text.find(needle)
        if i >= 0:
            return n, i + 1
    raise AssertionError(f"{needle!r} not in {path}")


def check(path):
    return run_gatehouse("check", "-c", str(path))


def assert_check_fails_at(path, line, col=None):
    r = check(path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    errs = config_errors(r.stderr, path)
    assert errs, f"no {Path(path).name}:LINE:COL: message line in stderr:\n{r.stderr}"
    at_line = [e for e in errs if e[0] == line]
    assert at_line, (line, errs, r.stderr)
    if col is not None:
        cols = col if isinstance(col, (tuple, list)) else (col,)
        assert any(e[1] in cols for e in at_line), (line, col, errs)
    return errs


def rewrite_and_reload(gh, cfg):
    """Writes `cfg` (a dict) over gh's config file and sends SIGHUP."""
    before = gh.stderr().count("configuration reloaded")
    gh.config_path.write_text(helpers.to_yaml(cfg) + "\n")
    gh.signal(signal.SIGHUP)
    return before


def wait_reloaded(gh, before, timeout=5.0):
    ok = wait_until(lambda: gh.stderr().count("configuration reloaded") > before, timeout)
    assert ok, gh.logs()[-3000:]


def replace_file(path, data):
    tmp = Path(str(path) + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ==========================================================================
# server_header


def test_server_header_default_on_proxied_and_own_responses(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, {"Server": "Apache/2.4.57 (Debian)"}, "hi"))
    dead = free_port()
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/app"), route(dead, "/dead")]}})

    r = raw_get(gh.port, "/app/x")
    assert r.status == 200 and r.body == b"hi"
    assert r.headers_all("server") == ["gatehouse"], r.headers  # replaced, never two

    r = raw_get(gh.port, "/no-route-here")
    assert r.status == 404
    assert r.headers_all("server") == ["gatehouse"], r.headers

    r = raw_get(gh.port, "/dead/x")
    assert r.status == 502
    assert r.headers_all("server") == ["gatehouse"], r.headers


def test_server_header_default_when_backend_sends_none(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, {}, "plain"))
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 200
    assert r.headers_all("server") == ["gatehouse"], r.headers


def test_server_header_backend_duplicates_replaced_by_one(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, [("Server", "one"), ("server", "two"),
                                              ("SERVER", "three")], "x"))
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    r = raw_get(gh.port, "/x")
    assert r.headers_all("server") == ["gatehouse"], r.headers


def test_server_header_custom(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, {"Server": "nginx/1.22.1"}, "hi"))
    dead = free_port()
    gh = gatehouse({"server": {"server_header": "MyProxy",
                               "reverse_proxy": [route(b, "/app"), route(dead, "/dead")]}})
    for target, status in (("/app/x", 200), ("/none", 404), ("/dead/x", 502)):
        r = raw_get(gh.port, target)
        assert r.status == status, r
        assert r.headers_all("server") == ["MyProxy"], (target, r.headers)


def test_server_header_empty_sends_none(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, {"Server": "Kestrel"}, "hi"))
    dead = free_port()
    gh = gatehouse({"server": {"server_header": "",
                               "reverse_proxy": [route(b, "/app"), route(dead, "/dead")]}})
    for target, status in (("/app/x", 200), ("/none", 404), ("/dead/x", 502)):
        r = raw_get(gh.port, target)
        assert r.status == status, r
        assert not r.has("server"), (target, r.headers)  # not even the backend's


def test_server_header_route_replaces_server_value(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, {"Server": "backend"}, "hi"))
    gh = gatehouse({"server": {"server_header": "Outer", "reverse_proxy": [
        route(b, "/inner", server_header="Inner"),
        route(b, "/hidden", server_header=""),
        route(b, "/outer"),
    ]}})
    assert raw_get(gh.port, "/inner/x").headers_all("server") == ["Inner"]
    assert not raw_get(gh.port, "/hidden/x").has("server")
    assert raw_get(gh.port, "/outer/x").headers_all("server") == ["Outer"]
    assert raw_get(gh.port, "/nowhere").headers_all("server") == ["Outer"]


def test_server_header_on_gatehouse_made_400_431_and_redirect(gatehouse, origin):
    """Answers gatehouse makes before any backend: malformed request (400),
    oversized head (431), a route's `redirect: https` (301)."""
    o = origin()
    gh = gatehouse({"server": {"server_header": "MyProxy",
                               "limits": {"max_header_bytes": "4k"},
                               "reverse_proxy": [route(o, "/secure", redirect="https"),
                                                 route(o, "/")]}})
    r = helpers.parse_raw_response(helpers.raw_exchange(gh.port, b"GARBAGE\r\n\r\n"))
    assert r is not None and r.status == 400, r
    assert r.headers_all("server") == ["MyProxy"], r.headers
    big = build_request("GET", "/x", headers=[("X-Big", "a" * 8000)], host=FRONT)
    r = helpers.parse_raw_response(helpers.raw_exchange(gh.port, big))
    assert r is not None and r.status == 431, r
    assert r.headers_all("server") == ["MyProxy"], r.headers
    r = raw_get(gh.port, "/secure/x")
    assert r.status == 301, r
    assert r.headers_all("server") == ["MyProxy"], r.headers


def test_server_header_and_obfuscate_on_websocket_101(gatehouse):
    wsb = ws_helpers.ScriptedWsBackend(lambda conn: None, extra_headers=[
        ("Server", "ws-backend/1.0"), ("X-Powered-By", "Socket.IO")])
    try:
        gh = gatehouse({"server": {"obfuscate": True, "reverse_proxy": [route(wsb, "/")]}})
        ws = ws_helpers.raw_ws_connect(gh.port, "/ws/x")
        try:
            assert ws.response.headers_all("server") == ["gatehouse"], ws.response.headers
            assert not ws.response.has("x-powered-by"), ws.response.headers
        finally:
            ws.close()
    finally:
        wsb.stop()


def test_server_header_over_requests_library(gatehouse, origin):
    """What a real client library sees (one merged header)."""
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    r = requests.get(gh.url("/small"), timeout=10)
    assert r.status_code == 200
    assert r.headers.get("Server") == "gatehouse"


# ==========================================================================
# obfuscate


LEAKY = canned(200, [("X-Powered-By", "PHP/8.2.7"), ("x-aspnet-version", "4.0.30319"),
                     ("X-ASPNETMVC-VERSION", "5.2"), ("X-Runtime", "0.012"),
                     ("x-generator", "Drupal 10"), ("X-Powered-By", "Express"),
                     ("X-Keep", "yes"), ("Server", "Microsoft-IIS/10.0")], "leaky")


def test_obfuscate_removes_technology_headers(gatehouse, capture_backend):
    b = capture_backend(response=LEAKY)
    gh = gatehouse({"server": {"obfuscate": True, "reverse_proxy": [route(b, "/")]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 200 and r.body == b"leaky"
    for name in PROXY_OWN_HEADERS:
        assert not r.has(name), (name, r.headers)
    assert r.headers_all("x-keep") == ["yes"]
    assert r.headers_all("server") == ["gatehouse"]


def test_without_obfuscate_technology_headers_pass(gatehouse, capture_backend):
    b = capture_backend(response=LEAKY)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    r = raw_get(gh.port, "/x")
    assert r.headers_all("x-powered-by") == ["PHP/8.2.7", "Express"]
    for name in PROXY_OWN_HEADERS:
        assert r.has(name), (name, r.headers)


def test_obfuscate_route_replaces_server_value(gatehouse, capture_backend):
    b = capture_backend(response=LEAKY)
    gh = gatehouse({"server": {"obfuscate": True, "reverse_proxy": [
        route(b, "/plain", obfuscate=False),
        route(b, "/"),
    ]}})
    r = raw_get(gh.port, "/plain/x")
    assert all(r.has(n) for n in PROXY_OWN_HEADERS), r.headers
    r = raw_get(gh.port, "/other")
    assert not any(r.has(n) for n in PROXY_OWN_HEADERS), r.headers

    gh2 = gatehouse({"server": {"reverse_proxy": [
        route(b, "/secret", obfuscate=True),
        route(b, "/"),
    ]}})
    assert not any(raw_get(gh2.port, "/secret/x").has(n) for n in PROXY_OWN_HEADERS)
    assert all(raw_get(gh2.port, "/x").has(n) for n in PROXY_OWN_HEADERS)


def test_obfuscate_hides_next_hop_in_502(gatehouse):
    dead = free_port()
    gh = gatehouse({"server": {"obfuscate": True, "reverse_proxy": [route(dead, "/")]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 502
    ps = proxy_status(r)
    assert "gatehouse" in ps and "error=connection_refused" in ps, ps
    assert "next-hop" not in ps, ps
    assert str(dead) not in ps, ps
    assert str(dead).encode() not in r.body, r.body
    assert f"127.0.0.1:{dead}".encode() not in r.raw_head + r.body


def test_without_obfuscate_502_names_next_hop(gatehouse):
    dead = free_port()
    gh = gatehouse({"server": {"reverse_proxy": [route(dead, "/")]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 502
    ps = proxy_status(r)
    assert "error=connection_refused" in ps and "next-hop=" in ps and str(dead) in ps, ps


def test_obfuscate_hides_next_hop_in_504(gatehouse, capture_backend):
    b = capture_backend(mode="hang")
    gh = gatehouse({"server": {"obfuscate": True, "timeouts": {"upstream_response": "1s"},
                               "reverse_proxy": [route(b, "/")]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 504
    ps = proxy_status(r)
    assert "error=http_response_timeout" in ps, ps
    assert "next-hop" not in ps and str(b.port) not in ps, ps
    assert str(b.port).encode() not in r.body


# ==========================================================================
# headers


def test_request_headers_set_add_remove(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", headers={"request": {
        "set": {"X-Env": "prod", "x-single": "only"},
        "add": {"X-Tag": "a"},
        "remove": ["X-Debug", "x-secret"],
    }})]}})
    r = raw_get(gh.port, "/x", headers=[
        ("X-ENV", "dev"), ("x-env", "staging"),          # set replaces every client copy
        ("X-Tag", "client"),                             # add keeps the client's and appends
        ("X-Debug", "1"), ("x-debug", "2"),              # remove drops all of them
        ("X-SECRET", "s"),
        ("X-Other", "kept"),
    ])
    assert r.status == 200, r
    req = b.wait_requests(1)[0]
    assert req.headers_all("x-env") == ["prod"], req.headers
    assert req.headers_all("x-single") == ["only"], req.headers
    tags = [v.strip() for v in ",".join(req.headers_all("x-tag")).split(",")]
    assert sorted(tags) == ["a", "client"], req.headers
    assert not req.has("x-debug") and not req.has("x-secret"), req.headers
    assert req.headers_all("x-other") == ["kept"]


def test_request_headers_set_when_client_sends_none(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", headers={"request": {
        "set": {"X-Env": "prod"}, "add": {"X-Tag": "a"}}})]}})
    raw_get(gh.port, "/x")
    req = b.wait_requests(1)[0]
    assert req.headers_all("x-env") == ["prod"]
    assert req.headers_all("x-tag") == ["a"]


def test_response_headers_set_add_remove(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, [
        ("X-Frame-Options", "SAMEORIGIN"), ("x-frame-options", "ALLOW-FROM x"),
        ("X-Internal", "secret"), ("x-INTERNAL", "2"),
        ("X-Added", "backend"), ("X-Untouched", "u")], "body"))
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", headers={"response": {
        "set": {"x-frame-options": "DENY"},
        "add": {"X-Added": "proxy"},
        "remove": ["X-Internal"],
    }})]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 200 and r.body == b"body"
    assert r.headers_all("x-frame-options") == ["DENY"], r.headers
    assert not r.has("x-internal"), r.headers
    added = [v.strip() for v in ",".join(r.headers_all("x-added")).split(",")]
    assert sorted(added) == ["backend", "proxy"], r.headers
    assert r.headers_all("x-untouched") == ["u"]


def test_response_header_rules_apply_to_gatehouse_own_responses(gatehouse):
    dead = free_port()
    gh = gatehouse({"server": {
        "headers": {"response": {"set": {"X-Frame-Options": "DENY"}, "add": {"X-Team": "ops"}}},
        "reverse_proxy": [route(dead, "/dead")]}})
    for target, status in (("/no-route", 404), ("/dead/x", 502)):
        r = raw_get(gh.port, target)
        assert r.status == status
        assert r.headers_all("x-frame-options") == ["DENY"], (target, r.headers)
        assert r.headers_all("x-team") == ["ops"], (target, r.headers)
        assert r.has("proxy-status")


def test_headers_route_replaces_server_value(gatehouse, capture_backend):
    b = capture_backend(response=canned(200, {"X-Backend": "b"}, "x"))
    gh = gatehouse({"server": {
        "headers": {"request": {"set": {"X-Server-Level": "1"}},
                    "response": {"set": {"X-Resp-Server": "1"}}},
        "reverse_proxy": [
            route(b, "/own", headers={"request": {"set": {"X-Route-Level": "1"}}}),
            route(b, "/"),
        ]}})
    r = raw_get(gh.port, "/own/x")
    req = b.wait_requests(1)[0]
    assert req.headers_all("x-route-level") == ["1"], req.headers
    assert not req.has("x-server-level"), req.headers  # replaced, not merged
    assert not r.has("x-resp-server"), r.headers      # the route's `headers` has no response part

    r = raw_get(gh.port, "/plain")
    req = b.wait_requests(2)[1]
    assert req.headers_all("x-server-level") == ["1"], req.headers
    assert not req.has("x-route-level")
    assert r.headers_all("x-resp-server") == ["1"]


def test_response_header_rules_apply_to_gatehouse_400(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {
        "headers": {"response": {"set": {"X-Frame-Options": "DENY"}}},
        "reverse_proxy": [route(o, "/")]}})
    r = helpers.parse_raw_response(helpers.raw_exchange(gh.port, b"GARBAGE\r\n\r\n"))
    assert r is not None and r.status == 400, r
    assert r.headers_all("x-frame-options") == ["DENY"], r.headers


def test_request_header_rules_apply_to_websocket_upgrade(gatehouse):
    wsb = ws_helpers.ScriptedWsBackend(lambda conn: None)
    try:
        gh = gatehouse({"server": {"reverse_proxy": [route(wsb, "/", headers={"request": {
            "set": {"X-Env": "prod"}, "remove": ["X-Debug"]}})]}})
        ws = ws_helpers.raw_ws_connect(gh.port, "/ws/x",
                                       extra=[("X-Env", "dev"), ("X-Debug", "1")])
        ws.close()
        req = wsb.wait_conn(1).request
        assert req.headers_all("x-env") == ["prod"], req.headers
        assert not req.has("x-debug"), req.headers
    finally:
        wsb.stop()


HEADERS_TEMPLATE = """\
server:
  port: 18080
  reverse_proxy:
    - path: /
      host: 127.0.0.1
      port: 3000
      headers:
        {direction}:
          {op}:
{entry}
"""


def header_config(tmp_path, direction, op, name):
    if op == "remove":
        entry = f"            - {name}"
        col = 15
    else:
        entry = f"            {name}: value"
        col = 13
    text = HEADERS_TEMPLATE.format(direction=direction, op=op, entry=entry)
    return write_config(tmp_path, text), 10, col


@pytest.mark.parametrize("name", ["Connection", "Transfer-Encoding", "Content-Length", "Upgrade",
                                  "TE", "Keep-Alive", "Host", "transfer-encoding", "CONNECTION"])
def test_check_refuses_hop_by_hop_and_framing_names(tmp_path, name):
    p, line, col = header_config(tmp_path, "request", "set", name)
    assert_check_fails_at(p, line, col)


@pytest.mark.parametrize("name", ["Proxy-Connection", "Trailer"])
def test_check_refuses_other_hop_by_hop_names(tmp_path, name):
    """Beyond the contract's examples: names gatehouse itself treats as
    hop-by-hop (forward_heads.cc) cannot be set either."""
    p, line, col = header_config(tmp_path, "response", "set", name)
    assert_check_fails_at(p, line, col)


@pytest.mark.parametrize("direction,op", [("request", "add"), ("request", "remove"),
                                          ("response", "set"), ("response", "add"),
                                          ("response", "remove")])
def test_check_refuses_framing_names_everywhere(tmp_path, direction, op):
    for name in ("Transfer-Encoding", "Content-Length", "Connection"):
        p, line, col = header_config(tmp_path, direction, op, name)
        assert_check_fails_at(p, line, col)


@pytest.mark.parametrize("name", ['"X Bad"', '"X:Bad"', '"X-Tab\\tName"', '"Bad@Name"', '""'])
def test_check_refuses_malformed_header_names(tmp_path, name):
    p, line, _ = header_config(tmp_path, "request", "set", name)
    assert_check_fails_at(p, line, (13, 14))


@pytest.mark.parametrize("direction", ["request", "response"])
def test_check_refuses_value_with_newline(tmp_path, direction):
    p = write_config(tmp_path, HEADERS_TEMPLATE.format(
        direction=direction, op="set", entry='            X-Ok: "a\\r\\nInjected: yes"'))
    assert_check_fails_at(p, 10)


def test_check_accepts_valid_header_rules(tmp_path):
    p = write_config(tmp_path, """\
        server:
          port: 18080
          headers:
            response:
              set: {X-Frame-Options: DENY, Strict-Transport-Security: "max-age=60"}
          reverse_proxy:
            - path: /app
              host: 127.0.0.1
              port: 3000
              headers:
                request:  {set: {X-Env: prod}, add: {X-Tag: a}, remove: [X-Debug]}
                response: {set: {X-Frame-Options: DENY}, remove: [X-Internal]}
        """)
    r = check(p)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_check_refuses_unknown_headers_key(tmp_path):
    p = write_config(tmp_path, """\
        server:
          port: 18080
          reverse_proxy:
            - path: /app
              host: 127.0.0.1
              port: 3000
              headers:
                request:
                  sett: {X-Env: prod}
        """)
    assert_check_fails_at(p, 9)


# ==========================================================================
# error_pages and intercept_errors


PAGE_502 = b"<!doctype html><title>502</title><p>Our gateway is having a moment (502).</p>\n"
PAGE_5XX = b"<!doctype html><title>5xx</title><p>Something broke on our side.</p>\n"
PAGE_404 = b"<!doctype html><title>404</title><p>Nothing here. \xc3\xa9</p>\n"
PAGE_4XX = b"<!doctype html><title>4xx</title><p>Client trouble.</p>\n"
PAGE_403 = b"<!doctype html><title>403</title><p>Not for you.</p>\n"


def write_pages(directory, **pages):
    d = Path(directory) / "errors"
    d.mkdir(parents=True, exist_ok=True)
    for name, data in pages.items():
        (d / f"{name}.html").write_bytes(data)
    return d


def assert_page(resp, page):
    assert resp.body == page, (resp.status, resp.headers, resp.body[:200])
    ctype = (resp.header("content-type") or "").replace(" ", "").lower()
    assert ctype == "text/html;charset=utf-8", resp.headers
    cl = resp.header("content-length")
    if cl is not None:
        assert int(cl) == len(page)


def test_error_page_for_proxy_502_keeps_proxy_status(gatehouse, tmp_path):
    write_pages(tmp_path, **{"502": PAGE_502, "5xx": PAGE_5XX})
    dead = free_port()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    gh = gatehouse({"server": {"reverse_proxy": [route(dead, "/", error_pages={
        "502": "./errors/502.html", "5xx": "./errors/5xx.html"})]}},
        cwd=elsewhere)  # relative to the config file's directory, not the working directory
    r = raw_get(gh.port, "/x")
    assert r.status == 502
    assert_page(r, PAGE_502)  # the exact status wins over 5xx
    assert "error=connection_refused" in proxy_status(r), r.headers


def test_error_page_class_key_for_other_5xx(gatehouse, capture_backend, tmp_path):
    write_pages(tmp_path, **{"502": PAGE_502, "5xx": PAGE_5XX})
    b = capture_backend(mode="hang")
    gh = gatehouse({"server": {"timeouts": {"upstream_response": "1s"}, "reverse_proxy": [
        route(b, "/", error_pages={"502": "./errors/502.html", "5xx": "./errors/5xx.html"})]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 504
    assert_page(r, PAGE_5XX)
    assert "error=http_response_timeout" in proxy_status(r), r.headers


def test_error_page_for_404_without_route(gatehouse, origin, tmp_path):
    write_pages(tmp_path, **{"404": PAGE_404})
    o = origin()
    gh = gatehouse({"server": {"error_pages": {"404": "./errors/404.html"},
                               "reverse_proxy": [route(o, "/app", strip_prefix=True)]}})
    r = raw_get(gh.port, "/nothing")
    assert r.status == 404
    assert_page(r, PAGE_404)
    assert "error=destination_not_found" in proxy_status(r), r.headers
    # A proxied answer is not touched.
    r = raw_get(gh.port, "/app/small")
    assert r.status == 200 and r.body == b"hello, world\n"


def test_error_page_for_access_403(gatehouse, origin, tmp_path):
    write_pages(tmp_path, **{"403": PAGE_403, "5xx": PAGE_5XX})
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(
        o, "/", access={"deny": ["127.0.0.1"]},
        error_pages={"403": "./errors/403.html", "5xx": "./errors/5xx.html"})]}})
    r = raw_get(gh.port, "/small")
    assert r.status == 403
    assert_page(r, PAGE_403)
    assert_denied(r, "access")


def test_backend_error_passes_unchanged_without_intercept(gatehouse, capture_backend, tmp_path):
    write_pages(tmp_path, **{"502": PAGE_502, "5xx": PAGE_5XX, "4xx": PAGE_4XX})
    b = capture_backend(response=canned(500, {"Content-Type": "text/plain"}, "backend says 500"))
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", error_pages={
        "5xx": "./errors/5xx.html", "4xx": "./errors/4xx.html"})]}})
    r = raw_get(gh.port, "/x")
    assert r.status == 500
    assert r.body == b"backend says 500"
    assert r.header("content-type") == "text/plain"
    assert not r.has("proxy-status")


def intercept_backend(capture_backend, secret):
    """500 (chunked, 64 KiB, with `secret` inside) on /err, 404 on /missing,
    200 otherwise."""
    chunk = b"x" * 4096

    def respond(req):
        if req.target.startswith("/err"):
            body = secret + chunk * 16 + secret
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 5000]), body[i:i + 5000])
                              for i in range(0, len(body), 5000))
            return (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                    b"Transfer-Encoding: chunked\r\nX-Backend-Err: yes\r\n\r\n" + chunks
                    + b"0\r\n\r\n")
        if req.target.startswith("/missing"):
            return canned(404, {"Content-Type": "text/plain"}, secret + b" not found")
        return canned(200, {"Content-Type": "text/plain"}, "fine")

    return capture_backend(response=respond)


def test_intercept_errors_replaces_backend_body_and_keeps_connection(gatehouse, capture_backend,
                                                                     tmp_path):
    write_pages(tmp_path, **{"5xx": PAGE_5XX, "4xx": PAGE_4XX})
    secret = b"BACKEND-STACK-TRACE-7f3a"
    b = intercept_backend(capture_backend, secret)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", intercept_errors=True, error_pages={
        "5xx": "./errors/5xx.html", "4xx": "./errors/4xx.html"})]}})
    record = bytearray()
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s, record=record)
        s.sendall(build_request("GET", "/err", host=FRONT))
        r1 = read_response(reader)
        assert r1.status == 500  # the backend's status is kept
        assert_page(r1, PAGE_5XX)
        s.sendall(build_request("GET", "/missing", host=FRONT))
        r2 = read_response(reader)
        assert r2.status == 404
        assert_page(r2, PAGE_4XX)
        s.sendall(build_request("GET", "/ok", host=FRONT))
        r3 = read_response(reader)
        assert r3.status == 200 and r3.body == b"fine"
    assert secret not in bytes(record), "the backend's error body reached the client"


def test_intercept_errors_keeps_the_backend_connection_for_a_small_error(gatehouse, capture_backend,
                                                                        tmp_path):
    # A small error body that arrived with its head is dropped, not read
    # through a closed connection: the next request reuses the connection.
    write_pages(tmp_path, **{"5xx": PAGE_5XX})

    def respond(req):
        if req.target.startswith("/err"):
            return canned(502, {"Content-Type": "text/plain"}, "backend says no")
        return canned(200, {}, "fine")

    b = capture_backend(response=respond)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", intercept_errors=True, error_pages={
        "5xx": "./errors/5xx.html"})]}})
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        s.sendall(build_request("GET", "/err", host=FRONT))
        r1 = read_response(reader)
        assert r1.status == 502
        assert_page(r1, PAGE_5XX)
        s.sendall(build_request("GET", "/ok", host=FRONT))
        r2 = read_response(reader)
        assert r2.status == 200 and r2.body == b"fine"
    assert len(b.connections) == 1, "the backend connection was not reused after the intercepted error"


def test_intercept_errors_with_content_length_and_close_delimited_bodies(gatehouse,
                                                                         capture_backend,
                                                                         tmp_path):
    write_pages(tmp_path, **{"5xx": PAGE_5XX})
    secret = b"SECRET-" + b"s" * 200000

    def respond(req):
        if req.target.startswith("/cl"):
            return canned(503, {"Content-Type": "text/plain"}, secret)
        if req.target.startswith("/eof"):
            return (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                    b"Connection: close\r\n\r\n" + secret)
        return canned(200, {}, "fine")

    b = capture_backend(response=respond)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", intercept_errors=True, error_pages={
        "5xx": "./errors/5xx.html"})]}})
    record = bytearray()
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s, record=record)
        for target, status in (("/cl", 503), ("/ok", 200), ("/eof", 500), ("/ok", 200)):
            s.sendall(build_request("GET", target, host=FRONT))
            r = read_response(reader)
            assert r.status == status, (target, r)
            if status != 200:
                assert_page(r, PAGE_5XX)
            else:
                assert r.body == b"fine"
    assert b"SECRET-" not in bytes(record)


def test_head_to_intercepted_error_has_no_body(gatehouse, origin, tmp_path):
    write_pages(tmp_path, **{"5xx": PAGE_5XX})
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/", intercept_errors=True, error_pages={
        "5xx": "./errors/5xx.html"})]}})
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        s.sendall(build_request("HEAD", "/status/500", host=FRONT))
        r = read_response(reader, "HEAD")
        assert r.status == 500 and r.body == b""
        s.sendall(build_request("GET", "/small", host=FRONT))
        r = read_response(reader)
        assert r.status == 200 and r.body == b"hello, world\n", r


def test_error_page_for_gatehouse_400(gatehouse, origin, tmp_path):
    """A malformed request is a proxy-made error too (server-level pages)."""
    write_pages(tmp_path, **{"4xx": PAGE_4XX})
    o = origin()
    gh = gatehouse({"server": {"error_pages": {"4xx": "./errors/4xx.html"},
                               "reverse_proxy": [route(o, "/")]}})
    r = helpers.parse_raw_response(helpers.raw_exchange(
        gh.port, b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert r is not None and r.status == 400, r
    assert_page(r, PAGE_4XX)
    assert "error=http_request_error" in proxy_status(r), r.headers


def test_sighup_with_missing_error_page_keeps_old_config(gatehouse, tmp_path):
    d = write_pages(tmp_path, **{"502": PAGE_502})
    dead = free_port()
    gh = gatehouse({"server": {"reverse_proxy": [route(dead, "/", error_pages={
        "502": "./errors/502.html"})]}})
    assert raw_get(gh.port, "/x").body == PAGE_502
    (d / "502.html").unlink()
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: "502.html" in gh.stderr(), 5.0), gh.stderr()[-2000:]
    assert raw_get(gh.port, "/x").body == PAGE_502  # the page read at the last good load
    assert gh.proc.poll() is None


def test_intercept_errors_only_for_listed_statuses(gatehouse, capture_backend, tmp_path):
    write_pages(tmp_path, **{"502": PAGE_502})
    secret = b"SECRET-404-BODY"
    b = intercept_backend(capture_backend, secret)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", intercept_errors=True, error_pages={
        "502": "./errors/502.html"})]}})
    r = raw_get(gh.port, "/missing")
    assert r.status == 404 and r.body == secret + b" not found"
    r = raw_get(gh.port, "/ok")
    assert r.status == 200 and r.body == b"fine"


def test_error_pages_route_replaces_server_value(gatehouse, tmp_path):
    write_pages(tmp_path, **{"502": PAGE_502, "5xx": PAGE_5XX})
    dead = free_port()
    gh = gatehouse({"server": {"error_pages": {"502": "./errors/502.html"}, "reverse_proxy": [
        route(dead, "/own", error_pages={"5xx": "./errors/5xx.html"}),
        route(dead, "/"),
    ]}})
    assert raw_get(gh.port, "/own/x").body == PAGE_5XX
    assert raw_get(gh.port, "/x").body == PAGE_502


def test_error_page_reread_on_sighup(gatehouse, tmp_path):
    d = write_pages(tmp_path, **{"502": PAGE_502})
    dead = free_port()
    gh = gatehouse({"server": {"reverse_proxy": [route(dead, "/", error_pages={
        "502": "./errors/502.html"})]}})
    assert raw_get(gh.port, "/x").body == PAGE_502
    new_page = b"<!doctype html><p>edited page, version 2</p>\n"
    replace_file(d / "502.html", new_page)
    # Read at load: editing alone changes nothing.
    assert raw_get(gh.port, "/x").body == PAGE_502
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: raw_get(gh.port, "/x").body == new_page, 5.0), gh.logs()[-2000:]
    assert_page(raw_get(gh.port, "/x"), new_page)


def test_check_refuses_missing_error_page(tmp_path):
    write_pages(tmp_path, **{"502": PAGE_502})
    p = write_config(tmp_path, """\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 3000
              error_pages:
                502: ./errors/502.html
                5xx: ./errors/no-such-page.html
        """)
    errs = assert_check_fails_at(p, 9)
    assert any("no-such-page.html" in e[2] for e in errs), errs


def test_check_accepts_existing_error_pages(tmp_path):
    write_pages(tmp_path, **{"502": PAGE_502, "5xx": PAGE_5XX})
    p = write_config(tmp_path, """\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 3000
              intercept_errors: true
              error_pages:
                502: ./errors/502.html
                5xx: ./errors/5xx.html
        """)
    r = check(p)
    assert r.returncode == 0, (r.stdout, r.stderr)


@pytest.mark.parametrize("key", ["99", "600", "6xx", "abc", "5xxx"])
def test_check_refuses_bad_error_page_status(tmp_path, key):
    write_pages(tmp_path, **{"502": PAGE_502})
    p = write_config(tmp_path, f"""\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 3000
              error_pages:
                {key}: ./errors/502.html
        """)
    assert_check_fails_at(p, 8)


# ==========================================================================
# access


def test_access_deny_refuses_with_403(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(b, "/admin", access={"deny": ["127.0.0.1"]}),
        route(b, "/"),
    ]}})
    r = raw_get(gh.port, "/admin/x")
    assert r.status == 403, r
    assert_denied(r, "access")
    assert raw_get(gh.port, "/public").status == 200
    reqs = b.wait_requests(1)
    time.sleep(0.2)
    assert [q.target for q in b.requests] == ["/public"], [q.target for q in reqs]


@pytest.mark.parametrize("access,status", [
    ({"allow": ["10.0.0.0/8"]}, 403),                               # only those pass
    ({"allow": ["127.0.0.0/8"]}, 200),
    ({"allow": ["10.0.0.0/8", "127.0.0.1/32"]}, 200),
    ({"allow": ["127.0.0.0/8"], "deny": ["127.0.0.1"]}, 403),       # deny wins
    ({"allow": ["127.0.0.0/8"], "deny": ["127.0.0.0/24"]}, 403),
    ({"allow": ["127.0.0.0/8"], "deny": ["127.0.0.2"]}, 200),
    ({"deny": ["10.0.0.0/8", "192.168.0.0/16"]}, 200),              # not denied: passes
    ({"deny": ["0.0.0.0/0"]}, 403),
    ({"allow": ["::1/128"]}, 403),                                  # IPv6 entries do not match v4
])
def test_access_allow_and_deny(gatehouse, origin, access, status):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/", access=access)]}})
    r = raw_get(gh.port, "/small")
    assert r.status == status, (access, r)
    if status == 403:
        assert_denied(r, "access")
    else:
        assert r.body == b"hello, world\n"


def test_access_uses_client_from_trusted_proxy(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"trusted_proxies": ["127.0.0.1/32"], "reverse_proxy": [
        route(b, "/deny", access={"deny": ["10.9.9.9"]}),
        route(b, "/allow", access={"allow": ["10.0.0.0/8"]}),
    ]}})
    xff = [("X-Forwarded-For", "10.9.9.9")]
    r = raw_get(gh.port, "/deny/x", headers=xff)
    assert r.status == 403, r
    assert_denied(r, "access")
    assert raw_get(gh.port, "/deny/x").status == 200          # the client is 127.0.0.1 itself
    assert raw_get(gh.port, "/allow/x", headers=xff).status == 200
    r = raw_get(gh.port, "/allow/x")
    assert r.status == 403
    assert_denied(r, "access")


def test_access_xff_left_entries_are_not_the_client(gatehouse, capture_backend):
    """With 127.0.0.1 trusted, the client is the right-most X-Forwarded-For
    entry that is not a trusted proxy: entries to its left were written by
    that (untrusted) client and can be forged."""
    b = capture_backend()
    gh = gatehouse({"server": {"trusted_proxies": ["127.0.0.1/32"], "reverse_proxy": [
        route(b, "/deny", access={"deny": ["10.9.9.9"]}),
        route(b, "/allow", access={"allow": ["10.0.0.0/8"]}),
    ]}})
    # A forged 10.x on the far left does not buy entry past 192.0.2.7 ...
    r = raw_get(gh.port, "/allow/x", headers=[("X-Forwarded-For", "10.1.1.1, 192.0.2.7")])
    assert r.status == 403, r
    # ... and the denied address is not the client when another hop follows it.
    r = raw_get(gh.port, "/deny/x", headers=[("X-Forwarded-For", "10.9.9.9, 192.0.2.7")])
    assert r.status == 200, r
    # Trusted hops on the right are skipped.
    r = raw_get(gh.port, "/deny/x", headers=[("X-Forwarded-For", "192.0.2.7, 10.9.9.9, 127.0.0.1")])
    assert r.status == 403, r


def test_access_ignores_forwarded_for_without_trusted_proxies(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(b, "/deny", access={"deny": ["10.9.9.9"]}),
        route(b, "/allow", access={"allow": ["10.0.0.0/8"]}),
    ]}})
    for h in ([("X-Forwarded-For", "10.9.9.9")], [("X-Real-IP", "10.9.9.9")],
              [("Forwarded", "for=10.9.9.9")]):
        assert raw_get(gh.port, "/deny/x", headers=h).status == 200, h
        r = raw_get(gh.port, "/allow/x", headers=h)
        assert r.status == 403, h
        assert_denied(r, "access")


def test_access_trusted_proxy_other_network_ignores_xff(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"trusted_proxies": ["10.0.0.0/8"], "reverse_proxy": [
        route(b, "/allow", access={"allow": ["10.0.0.0/8"]})]}})
    assert raw_get(gh.port, "/allow/x", headers=[("X-Forwarded-For", "10.9.9.9")]).status == 403


@pytest.mark.parametrize("target", [
    "/admin", "/admin/", "/admin/x", "/public/../admin", "/public/../admin/x", "//admin",
    "//admin//x", "/%61dmin", "/%61%64%6D%69%6E/x", "/./admin", "/admin/./x",
    "/public/%2e%2E/admin/x", "/public/..;/admin/x", "/admin?x=1", "/public/x/../../admin",
])
def test_access_not_dodged_by_path_spelling(gatehouse, capture_backend, target):
    admin = capture_backend()
    public = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(admin, "/admin", access={"deny": ["127.0.0.1"]}),
        route(public, "/"),
    ]}})
    r = raw_get(gh.port, target)
    assert r.status == 403, (target, r)
    assert_denied(r, "access")
    time.sleep(0.1)
    assert not admin.requests and not public.requests, (
        [q.target for q in admin.requests], [q.target for q in public.requests])


@pytest.mark.parametrize("target", ["/administrator", "/adminx/y", "/public/admin", "/%2561dmin"])
def test_access_other_paths_pass(gatehouse, capture_backend, target):
    admin = capture_backend()
    public = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(admin, "/admin", access={"deny": ["127.0.0.1"]}),
        route(public, "/"),
    ]}})
    r = raw_get(gh.port, target)
    assert r.status == 200, (target, r)
    assert [q.target for q in public.wait_requests(1)] == [target]


def test_access_denied_post_body_skipped_on_keepalive(gatehouse, capture_backend):
    admin = capture_backend()
    public = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(admin, "/admin", access={"deny": ["127.0.0.1"]}),
        route(public, "/"),
    ]}})
    # The body looks like a request: if gatehouse read it as one, the public
    # backend would see /smuggled.
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: front.test\r\n\r\n"
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        s.sendall(build_request("POST", "/admin/form", body=smuggled, host=FRONT,
                                headers=[("Content-Type", "text/plain")]))
        r1 = read_response(reader, "POST")
        assert r1.status == 403, r1
        assert_denied(r1, "access")
        s.sendall(build_request("GET", "/public/next", host=FRONT))
        r2 = read_response(reader)
        assert r2.status == 200 and r2.body == b"captured", r2
    time.sleep(0.2)
    assert [q.target for q in public.requests] == ["/public/next"]
    assert not admin.requests


def test_access_denied_pipelined_with_next_request(gatehouse, capture_backend):
    admin = capture_backend()
    public = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(admin, "/admin", access={"deny": ["127.0.0.1"]}),
        route(public, "/"),
    ]}})
    data = (build_request("POST", "/admin/form", body=b"a=1&b=2", host=FRONT)
            + build_request("GET", "/after", host=FRONT))
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        s.sendall(data)
        r1 = read_response(reader, "POST")
        assert r1.status == 403
        r2 = read_response(reader)
        assert r2.status == 200 and r2.body == b"captured"
    assert [q.target for q in public.wait_requests(1)] == ["/after"]
    assert not admin.requests


def test_access_denied_chunked_post_then_next_request(gatehouse, capture_backend):
    """A refused chunked request: either the connection goes on (the body was
    skipped) or the 403 says `Connection: close` and the connection ends; the
    body is never read as a request."""
    admin = capture_backend()
    public = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(admin, "/admin", access={"deny": ["127.0.0.1"]}),
        route(public, "/"),
    ]}})
    body = b"GET /smuggled HTTP/1.1\r\nHost: front.test\r\n\r\n"
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        s.sendall(build_request("POST", "/admin/up", host=FRONT,
                                headers=[("Transfer-Encoding", "chunked")])
                  + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        r1 = read_response(reader, "POST")
        assert r1.status == 403
        assert_denied(r1, "access")
        closing = "close" in (r1.header("connection") or "").lower()
        try:
            s.sendall(build_request("GET", "/next", host=FRONT))
            r2 = read_response(reader)
        except (EOFError, ConnectionResetError, BrokenPipeError):
            assert closing, "connection closed without Connection: close on the 403"
        else:
            assert r2.status == 200 and r2.body == b"captured"
    time.sleep(0.2)
    assert not admin.requests
    assert all("smuggled" not in q.target for q in public.requests)


def test_access_denied_expect_continue_does_not_wait_for_body(gatehouse, capture_backend):
    admin = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(admin, "/admin", access={"deny": ["127.0.0.1"]})]}})
    with connect(gh.port, timeout=5) as s:
        reader = SockReader(s)
        s.sendall(build_request("POST", "/admin/up", host=FRONT, headers=[
            ("Content-Length", "100000"), ("Expect", "100-continue")]))
        t0 = time.monotonic()
        r = read_response(reader, "POST")  # skips a 100 if one comes
        assert r.status == 403, r
        assert time.monotonic() - t0 < 3
    assert not admin.requests


def test_access_denied_websocket_upgrade_gets_403_and_no_tunnel(gatehouse, origin):
    wsb = ws_helpers.ScriptedWsBackend(lambda conn: None)
    try:
        o = origin()
        gh = gatehouse({"server": {"reverse_proxy": [
            route(wsb, "/ws", access={"deny": ["127.0.0.1"]}),
            route(o, "/"),
        ]}})
        with connect(gh.port, timeout=5) as s:
            reader = SockReader(s)
            s.sendall(ws_helpers.upgrade_request("/ws/chat", host=FRONT))
            r = read_response(reader)
            assert r.status == 403, r
            assert_denied(r, "access")
            assert not r.has("sec-websocket-accept")
            # Whatever follows is not tunnelled anywhere.
            try:
                s.sendall(ws_helpers.encode_frame(ws_helpers.OP_TEXT, b"hello?"))
            except OSError:
                pass
        time.sleep(0.3)
        assert not wsb.conns, "the denied upgrade reached the backend"
        assert raw_get(gh.port, "/small").status == 200
    finally:
        wsb.stop()


def test_access_allowed_websocket_still_tunnels(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(o, "/ws", access={"allow": ["127.0.0.0/8"], "deny": ["10.0.0.0/8"]})]}})
    ws = ws_helpers.raw_ws_connect(gh.port, "/ws/echo")
    try:
        ws.send(ws_helpers.OP_TEXT, b"through")
        f = ws.recv()
        assert f.opcode == ws_helpers.OP_TEXT and f.payload == b"through"
    finally:
        ws.close()


@pytest.fixture(scope="module")
def front_pki(tmp_path_factory):
    import trustme
    d = tmp_path_factory.mktemp("policy-pki")
    ca = trustme.CA()
    leaf = th.write_leaf(ca, d, "front", [FRONT], "front-cert")
    return th.write_ca(ca, d / "ca.pem"), leaf


def test_access_over_tls(gatehouse, origin, front_pki):
    ca, leaf = front_pki
    o = origin()
    gh = gatehouse({
        "server": {"reverse_proxy": [route(o, "/admin", access={"deny": ["127.0.0.1"]}),
                                     route(o, "/")]},
        "ssl": {"enabled": True, "port": free_port(), "cert_file": str(leaf.cert),
                "key_file": str(leaf.key)}})
    with th.TlsClient(gh.tls_port, sni=FRONT, cafile=ca) as c:
        r = c.request(target="/admin/small", host=FRONT)
        assert r.status == 403, r
        assert_denied(r, "access")
        r = c.request(target="/%61dmin/small", host=FRONT)
        assert r.status == 403, r
        r = c.request(target="/small", host=FRONT)  # same TLS connection, allowed route
        assert r.status == 200 and r.body == b"hello, world\n"
    r = raw_get(gh.port, "/admin/small")  # and the plain listener
    assert r.status == 403


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "300.1.2.3", "10.0.0", "not-an-address",
                                  "10.0.0.0/8/8", "fe80::1%eth0", "::1/129", "10.0.0.0/-1"])
@pytest.mark.parametrize("key", ["allow", "deny"])
def test_check_refuses_bad_cidr(tmp_path, cidr, key):
    p = write_config(tmp_path, f"""\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 3000
              access:
                {key}:
                  - 10.1.0.0/16
                  - "{cidr}"
        """)
    line, col = locate(p, f'"{cidr}"')
    assert line == 10
    assert_check_fails_at(p, line, (col, col + 1))  # the quote or the value


def test_check_refuses_bad_cidr_at_server_level(tmp_path):
    p = write_config(tmp_path, """\
        server:
          port: 18080
          access:
            deny: [10.0.0.1, 10.0.0.0/40]
        """)
    assert_check_fails_at(p, 4)


def test_check_accepts_good_access(tmp_path):
    p = write_config(tmp_path, """\
        server:
          port: 18080
          access:
            deny: [10.0.0.5, "192.168.0.0/16", "fd00::/8", "::1"]
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 3000
              access:
                allow: [10.0.0.0/8, 127.0.0.1/32]
                deny: [10.0.0.5]
        """)
    r = check(p)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_access_route_replaces_server_value(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"access": {"deny": ["127.0.0.1"]}, "reverse_proxy": [
        route(o, "/open", strip_prefix=True, access={"allow": ["127.0.0.0/8"]}),
        route(o, "/"),
    ]}})
    r = raw_get(gh.port, "/open/small")
    assert r.status == 200 and r.body == b"hello, world\n"
    for target in ("/small", "/other/x", "/opener"):
        r = raw_get(gh.port, target)
        assert r.status == 403, (target, r)
        assert_denied(r, "access")


def test_access_server_level_applies_to_every_route(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"access": {"allow": ["10.0.0.0/8"]}, "reverse_proxy": [
        route(o, "/a"), route(o, "/b")]}})
    assert raw_get(gh.port, "/a/small").status == 403
    assert raw_get(gh.port, "/b/small").status == 403


def test_access_reload_takes_effect(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/", access={"allow": ["127.0.0.0/8"]})]}})
    original = json.loads(json.dumps(gh.config))
    assert raw_get(gh.port, "/small").status == 200
    with connect(gh.port, timeout=10) as old:  # a keep-alive connection opened before
        old_reader = SockReader(old)
        old.sendall(build_request("GET", "/small", host=FRONT))
        assert read_response(old_reader).status == 200

        changed = json.loads(json.dumps(original))
        changed["server"]["reverse_proxy"][0]["access"] = {"allow": ["127.0.0.0/8"],
                                                          "deny": ["127.0.0.1"]}
        before = rewrite_and_reload(gh, changed)
        wait_reloaded(gh, before)
        r = raw_get(gh.port, "/small")
        assert r.status == 403, r
        assert_denied(r, "access")
        # The connection from before the reload is still open and answered.
        old.sendall(build_request("GET", "/small", host=FRONT))
        assert read_response(old_reader).status in (200, 403)

    # And back again.
    before = rewrite_and_reload(gh, original)
    wait_reloaded(gh, before)
    assert raw_get(gh.port, "/small").status == 200


def test_access_bad_reload_keeps_old_list(gatehouse, origin):
    o = origin()
    cfg = {"server": {"reverse_proxy": [route(o, "/", access={"deny": ["127.0.0.1"]})]}}
    gh = gatehouse(cfg)
    assert raw_get(gh.port, "/small").status == 403
    cfg2 = {"server": dict(gh.config["server"], reverse_proxy=[
        route(o, "/", access={"deny": ["127.0.0.1/99"]})])}
    gh.config_path.write_text(helpers.to_yaml(cfg2) + "\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: re.search(r"gatehouse-\d+\.yaml:\d+:\d+:", gh.stderr()), 5), \
        gh.stderr()[-2000:]
    assert raw_get(gh.port, "/small").status == 403
    assert gh.proc.poll() is None


# ==========================================================================
# Access log


def test_access_log_names_refusing_policy(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [
        route(o, "/admin", access={"deny": ["127.0.0.1"]}),
        route(o, "/")]}})
    r = raw_get(gh.port, "/admin/secret", headers=[("X-Request-ID", "denied-req-1")])
    assert r.status == 403
    assert raw_get(gh.port, "/small", headers=[("X-Request-ID", "allowed-req-1")]).status == 200
    wanted = ("denied-req-1", "allowed-req-1")

    def by_id():
        got = {rec.get("request_id"): rec for rec in gh.access_log()}
        return got if all(w in got for w in wanted) else None

    recs = wait_until(by_id, 5.0)
    assert recs and len(recs) == 2, gh.stdout()[-2000:]
    denied = recs["denied-req-1"]
    assert int(denied["status"]) == 403
    assert denied["proxy_status"] == "http_request_denied", denied
    assert denied.get("policy") == "access", denied
    assert denied["path"].startswith("/admin/secret")
    ok = recs["allowed-req-1"]
    assert int(ok["status"]) == 200
    assert not ok["proxy_status"]
    assert not ok.get("policy"), ok


def test_access_log_to_file_names_policy(gatehouse, origin, tmp_path):
    o = origin()
    log = tmp_path / "access.log"
    gh = gatehouse({"server": {"access_log": str(log), "access": {"deny": ["127.0.0.1"]},
                               "reverse_proxy": [route(o, "/")]}})
    assert raw_get(gh.port, "/x").status == 403
    gh.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0]["proxy_status"] == "http_request_denied"
    assert lines[0]["policy"] == "access"
