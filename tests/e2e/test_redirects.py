"""Location / Content-Location / Refresh and Set-Cookie mapped back to what the
client used, only when strip_prefix or preserve_host: false changed what the
backend saw."""

import re
from urllib.parse import quote

import helpers
from helpers import route

FRONT = "front.test"


def get(gh, target, host=FRONT):
    return helpers.http_request(gh.port, "GET", target, host=host)


def redirect_target(to):
    return "/redirect?to=" + quote(to, safe="")


def cookie_paths(resp):
    out = []
    for c in resp.headers_all("set-cookie"):
        m = re.search(r";\s*path=([^;]*)", c, re.I)
        out.append(m.group(1).strip() if m else None)
    return out


def test_strip_prefix_maps_relative_location(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/app", strip_prefix=True)]}})
    r = get(gh, "/app" + redirect_target("/login"))
    assert r.status == 302
    assert r.header("location") == "/app/login"
    r = get(gh, "/app" + redirect_target("/login?next=%2Fhome"))
    assert r.header("location") == "/app/login?next=%2Fhome"


def test_strip_prefix_maps_cookie_path(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/app", strip_prefix=True)]}})
    r = get(gh, "/app/cookie?v=" + quote("sid=abc; Path=/; HttpOnly", safe=""))
    assert r.status == 200
    [cookie] = r.headers_all("set-cookie")
    assert cookie.startswith("sid=abc")
    assert cookie_paths(r) == ["/app"], cookie
    assert "httponly" in cookie.lower()
    r = get(gh, "/app/cookie?v=" + quote("x=1; Path=/account", safe=""))
    assert cookie_paths(r) == ["/app/account"]


def test_preserve_host_false_maps_absolute_location(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/", preserve_host=False)]}})
    r = get(gh, redirect_target(f"http://127.0.0.1:{o.port}/x?y=1"))
    assert r.status == 302
    assert r.header("location") == f"http://{FRONT}/x?y=1"
    # A client Host with a port keeps its port.
    r = get(gh, redirect_target(f"http://127.0.0.1:{o.port}/x"), host=f"{FRONT}:{gh.port}")
    assert r.header("location") == f"http://{FRONT}:{gh.port}/x"
    # Other sites are left alone.
    r = get(gh, redirect_target("https://elsewhere.example/x"))
    assert r.header("location") == "https://elsewhere.example/x"


def test_unchanged_without_strip_prefix_or_host_rewrite(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    r = get(gh, redirect_target("/login"))
    assert r.status == 302
    assert r.header("location") == "/login"
    absolute = f"http://127.0.0.1:{o.port}/x"
    r = get(gh, redirect_target(absolute))
    assert r.header("location") == absolute
    r = get(gh, "/cookie?v=" + quote("sid=1; Path=/", safe=""))
    assert r.headers_all("set-cookie") == ["sid=1; Path=/"]


def test_content_location_refresh_and_cookie_domain(gatehouse, capture_backend):
    b = capture_backend(response=helpers.canned(302, [
        ("Location", "/login"), ("Content-Location", "/doc"), ("Refresh", "5; url=/next"),
        ("Set-Cookie", "a=1; Path=/; Domain=127.0.0.1")]))
    gh = gatehouse({"server": {"reverse_proxy": [
        route(b, "/app", strip_prefix=True, preserve_host=False)]}})
    r = get(gh, "/app/start")
    assert b.last.target == "/start"
    assert b.last.header("host") == f"127.0.0.1:{b.port}"
    assert r.status == 302
    assert r.header("location") == "/app/login"
    assert r.header("content-location") == "/app/doc"
    assert re.fullmatch(r"5;\s*url=/app/next", r.header("refresh"), re.I), r.header("refresh")
    [cookie] = r.headers_all("set-cookie")
    assert cookie_paths(r) == ["/app"], cookie
    m = re.search(r";\s*domain=([^;]*)", cookie, re.I)
    assert m is None or m.group(1).strip().lstrip(".") == FRONT, cookie


def test_root_route_strip_prefix_is_identity(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/", strip_prefix=True)]}})
    r = get(gh, redirect_target("/login"))
    assert r.header("location") == "/login"
