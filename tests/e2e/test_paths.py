"""Path normalization (CONTRACT.md, "On the wire"; issue 11 item 3): routing
sees the normalized path (dot segments resolved, "//" merged, %XX of
unreserved characters decoded), the backend gets the client's own bytes
(changed only by strip_prefix), and only a ".." above the root is refused.

Requests go out as raw bytes: HTTP client libraries would resolve the dot
segments themselves before sending.
"""

import pytest

from helpers import http_request, route, wait_until


@pytest.fixture
def rig(gatehouse, capture_backend):
    """One capture backend per route, so the backend that answered names the route."""
    b = {name: capture_backend() for name in ("root", "a", "public", "admin", "api")}
    gh = gatehouse({"server": {"reverse_proxy": [
        route(b["root"], "/"),
        route(b["a"], "/a"),
        route(b["public"], "/public"),
        route(b["admin"], "/admin"),
        route(b["api"], "/api", strip_prefix=True),
    ]}})
    return gh, b


def send(gh, target):
    return http_request(gh.port, "GET", target)


def reached(backends, name, target):
    """The request reached backend `name`, and only it, with exactly `target`."""
    got = backends[name].wait_requests(1)
    assert [r.target for r in got] == [target], (name, [r.target for r in got])
    others = {n: [r.target for r in b.requests] for n, b in backends.items() if n != name}
    assert not any(others.values()), others


@pytest.mark.parametrize("target,name", [
    ("/a//b/./c", "a"),                          # issue 11: 400 before
    ("/public/../admin/x", "admin"),             # issue 11: 400 before; not the /public route
    ("/%61dmin/x", "admin"),                     # %61 is 'a': before, it went to "/"
    ("/public/..;/admin/x", "admin"),            # ".." with parameters, as Tomcat reads it
    ("/public/%2e%2E/admin/x", "admin"),         # encoded dots are dots
    ("//admin//x", "admin"),
    ("/admin/../public", "public"),
    ("/a/b/../../public/x?q=/../admin", "public"),  # the query is not a path
    ("/public%2F..%2Fadmin/x", "root"),          # an encoded slash is no separator
    ("/%2561dmin/x", "root"),                    # "%25" is '%', not a second decoding
])
def test_routed_on_the_normalized_path_with_the_clients_bytes(rig, target, name):
    gh, backends = rig
    r = send(gh, target)
    assert r.status == 200, (r.status, r.headers, r.body[:200])
    assert r.body == b"captured"
    reached(backends, name, target)


@pytest.mark.parametrize("target", ["/../x", "/a/../../x", "/%2e%2e/admin", "//..", "/..;/admin"])
def test_dot_dot_above_the_root_is_400_with_proxy_status(rig, target):
    gh, backends = rig
    r = send(gh, target)
    assert r.status == 400, (r.status, r.body[:200])
    ps = r.header("proxy-status", "")
    assert ps.startswith("gatehouse; error=http_request_error"), ps
    assert "above the root" in ps, ps
    assert not any(b.requests for b in backends.values())


@pytest.mark.parametrize("target,detail", [
    ("/a%zz", "malformed %-escape"),
    ("/a%4", "malformed %-escape"),
    ("/a%00b", "%00"),
    ("/a%5c..%5cadmin", "backslash"),
    ("/a\\b", "backslash"),
])
def test_malformed_or_forbidden_paths_are_400(rig, target, detail):
    gh, backends = rig
    r = send(gh, target)
    assert r.status == 400, (r.status, r.body[:200])
    ps = r.header("proxy-status", "")
    assert "error=http_request_error" in ps and detail in ps, ps
    assert not any(b.requests for b in backends.values())


@pytest.mark.parametrize("target,upstream", [
    ("/api/users?id=1", "/users?id=1"),
    ("/api//users/./x?q=/../", "//users/./x?q=/../"),  # under the prefix as sent: own bytes, minus it
    ("/api", "/"),
    ("/x/../api/users?q=1", "/users?q=1"),               # under it only once normalized
    ("/%61pi/users", "/users"),
    ("/api/../api/v2", "/v2"),                           # the rest alone would climb out of it
])
def test_strip_prefix(rig, target, upstream):
    gh, backends = rig
    r = send(gh, target)
    assert r.status == 200, (r.status, r.body[:200])
    reached(backends, "api", upstream)


def test_access_log_keeps_the_path_as_sent(rig):
    gh, backends = rig
    assert send(gh, "/public/../admin/x").status == 200

    def entries():
        return [e for e in gh.access_log() if e.get("path") == "/public/../admin/x"]

    assert wait_until(lambda: entries(), timeout=5), gh.access_log()
    assert entries()[0]["route"] == "/admin"
