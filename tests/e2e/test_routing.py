"""Routing: path prefixes on segment boundaries (longest wins), domains,
strip_prefix, no-route answers."""

import requests

import helpers
from helpers import route


def get(gh, path, host=None, **kw):
    headers = {"Host": host} if host else {}
    return requests.get(gh.url(path), headers=headers, timeout=10, allow_redirects=False, **kw)


def instance(gh, path, host=None):
    r = get(gh, path, host)
    assert r.status_code == 200, (path, r.status_code, r.headers, r.text[:300])
    return r.json()["instance"]


def assert_no_route(r):
    assert r.status_code == 404, (r.status_code, r.text[:300])
    ps = r.headers.get("Proxy-Status", "")
    assert "gatehouse" in ps and "error=" in ps, ps


def test_seed_api_gateway(gatehouse, origin):
    auth, v1, v2 = origin("auth"), origin("api-v1"), origin("api-v2")
    # The seed's API gateway example, with local origins as hosts and ports.
    gh = gatehouse(f"""\
server:
  host: 127.0.0.1
  port: {helpers.free_port()}
  reverse_proxy:
    - host: 127.0.0.1
      path: /auth
      port: {auth.port}
    - host: 127.0.0.1
      path: /api/v1
      port: {v1.port}
    - host: 127.0.0.1
      path: /api/v2
      port: {v2.port}
""")
    assert instance(gh, "/auth/login") == "auth"
    assert instance(gh, "/auth") == "auth"
    assert instance(gh, "/api/v1/users") == "api-v1"
    assert instance(gh, "/api/v2/users/7?x=1") == "api-v2"
    assert instance(gh, "/api/v1") == "api-v1"
    # The prefix is kept by default (gatehouse differs from PyServe here).
    assert get(gh, "/api/v1/users?id=3").json()["path"] == "/api/v1/users?id=3"
    assert_no_route(get(gh, "/api/v3/users"))
    assert_no_route(get(gh, "/api"))
    assert_no_route(get(gh, "/"))


def test_longest_prefix_wins(gatehouse, origin):
    root, api, v1 = origin("root"), origin("api"), origin("v1")
    gh = gatehouse({"server": {"reverse_proxy": [
        route(root, "/"), route(v1, "/api/v1"), route(api, "/api")]}})  # order must not matter
    assert instance(gh, "/api/v1/x") == "v1"
    assert instance(gh, "/api/v1") == "v1"
    assert instance(gh, "/api/v1/") == "v1"
    assert instance(gh, "/api/x") == "api"
    assert instance(gh, "/api") == "api"
    assert instance(gh, "/api/") == "api"
    assert instance(gh, "/api/v10") == "api"
    assert instance(gh, "/other") == "root"
    assert instance(gh, "/") == "root"


def test_segment_boundaries(gatehouse, origin):
    root, api = origin("root"), origin("api")
    gh = gatehouse({"server": {"reverse_proxy": [route(api, "/api"), route(root, "/")]}})
    assert instance(gh, "/apix") == "root"
    assert instance(gh, "/api-v2/x") == "root"
    assert instance(gh, "/api/x") == "api"
    assert instance(gh, "/api?q=1") == "api"

    only = gatehouse({"server": {"reverse_proxy": [route(api, "/api")]}})
    assert_no_route(get(only, "/apix"))
    assert_no_route(get(only, "/ap"))
    assert instance(only, "/api/deeper/still") == "api"


def test_domains_exact_and_wildcard(gatehouse, origin):
    exact, wild, any_host = origin("exact"), origin("wild"), origin("any")
    gh = gatehouse({"server": {"reverse_proxy": [
        route(wild, "/", domains=["*.example.com"]),
        route(exact, "/", domains=["a.example.com"]),
        route(any_host, "/"),
    ]}})
    assert instance(gh, "/x", "a.example.com") == "exact"
    assert instance(gh, "/x", f"a.example.com:{gh.port}") == "exact"  # port ignored
    assert instance(gh, "/x", "A.Example.COM") == "exact"  # host names are case-insensitive
    assert instance(gh, "/x", "b.example.com") == "wild"
    assert instance(gh, "/x", "other.org") == "any"


def test_domains_without_fallback(gatehouse, origin):
    api = origin("api")
    gh = gatehouse({"server": {"reverse_proxy": [
        route(api, "/", domains=["api.example.com"])]}})
    assert instance(gh, "/", "api.example.com") == "api"
    assert_no_route(get(gh, "/", "www.example.com"))


def test_strip_prefix(gatehouse, origin):
    stripped, kept = origin("stripped"), origin("kept")
    gh = gatehouse({"server": {"reverse_proxy": [
        route(stripped, "/app", strip_prefix=True),
        route(kept, "/keep"),
    ]}})
    assert get(gh, "/app/users?x=1").json()["path"] == "/users?x=1"
    assert get(gh, "/app/a/b/").json()["path"] == "/a/b/"
    assert get(gh, "/app").json()["path"] == "/"
    assert get(gh, "/app/").json()["path"] == "/"
    assert get(gh, "/app?x=1").json()["path"] == "/?x=1"
    assert get(gh, "/keep/users?x=1").json()["path"] == "/keep/users?x=1"


def test_query_string_preserved_exactly(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    for target in ["/q?a=1&b=2", "/q?b=%20x&c", "/q?x=%2F%3F%26&y=a+b", "/q?", "/p%20ath/x?z=1"]:
        r = helpers.http_request(gh.port, "GET", target)
        assert r.status == 200
        assert r.json()["path"] == target


def test_methods_route(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/api")]}})
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]:
        r = requests.request(method, gh.url("/api/x"), timeout=10)
        assert r.status_code == 200 and r.json()["method"] == method
