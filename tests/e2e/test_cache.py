"""The response cache (docs/caching.md, CONTRACT.md `cache`), end to end.

Written from the documentation, as a check of the implementation: every
rule of docs/caching.md with real clients (raw HTTP/1.1 sockets, curl,
python3-h2 over h2c) in front of a Python origin (cache_origin.py) whose
answers each test sets and which counts what it was sent, so "served from
the store" is always checked as "the origin saw exactly N requests" besides
the `Cache-Status` field (RFC 9211) gatehouse adds.

Timing: lifetimes of 1-2 s and sleeps just past them. An origin's `Date` has
one-second resolution, so a response may look up to 1 s old when it arrives:
a response that must still be fresh right after it was stored gets a
lifetime of at least 2 s, and "stale" is only asserted after sleeping longer
than the whole lifetime.
"""

import gzip
import itertools
import socket
import subprocess
import textwrap
import threading
import time
import urllib.parse

import pytest

from cache_origin import CacheOrigin, Reply, http_date, not_modified, validating
from helpers import (HOST, SockReader, build_request, connect, free_port, read_response,
                     route, run_gatehouse, wait_until)

pytestmark = pytest.mark.deadline(30)

HOSTNAME = "example.test"
TEXT = (b"<html><body>" + b"".join(b"<p>line %d of a page that compresses well</p>\n" % i
                                   for i in range(400)) + b"</body></html>\n")


# --------------------------------------------------------------------------
# Cache-Status (RFC 9211)


def split_members(value):
    """Top-level comma split of a structured-field list (quoted strings kept)."""
    out, cur, quoted = [], "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [m.strip() for m in out if m.strip()]


def cache_status(resp):
    """gatehouse's Cache-Status member as a dict of its parameters (a bare
    parameter maps to True), or None when there is none."""
    members = []
    for v in resp.headers_all("cache-status") if hasattr(resp, "headers_all") else []:
        members += split_members(v)
    for m in members:
        parts = [p.strip() for p in m.split(";")]
        if parts[0] != "gatehouse":
            continue
        params = {}
        for p in parts[1:]:
            if not p:
                continue
            k, eq, val = p.partition("=")
            params[k.strip()] = val.strip().strip('"') if eq else True
        return params
    return None


def is_hit(cs):
    return cs is not None and cs.get("hit") is True and "fwd" not in cs


def assert_hit(r, detail=None):
    cs = cache_status(r)
    assert is_hit(cs), (r.status, r.headers)
    assert "ttl" in cs, r.headers
    assert cs.get("detail") == detail, r.headers
    return cs


def assert_stored(r, fwd="miss", status=None):
    cs = cache_status(r)
    assert cs is not None, r.headers
    assert cs.get("fwd") == fwd and cs.get("stored") is True and "hit" not in cs, r.headers
    assert cs.get("fwd-status") == str(status or r.status), r.headers
    return cs


def assert_not_stored(r, detail, fwd="miss"):
    cs = cache_status(r)
    assert cs is not None, r.headers
    assert cs.get("fwd") == fwd and "stored" not in cs and "hit" not in cs, r.headers
    assert cs.get("fwd-status") == str(r.status), r.headers
    assert cs.get("detail") == detail, r.headers
    return cs


def ttl(r):
    return int(cache_status(r)["ttl"])


# --------------------------------------------------------------------------
# Clients


def get(gh, target, headers=(), method="GET", host=HOSTNAME, body=b"", port=None):
    """One request on a fresh connection; returns the Response."""
    with connect(port or gh.port) as s:
        s.sendall(build_request(method, target, headers=list(headers), body=body, host=host))
        return read_response(SockReader(s), method)


def admin(gh, method, target):
    with connect(gh.admin_port) as s:
        s.sendall(build_request(method, target, host=f"{HOST}:{gh.admin_port}"))
        return read_response(SockReader(s), method)


def purge(gh, **params):
    return admin(gh, "POST", "/cache/purge?" + "&".join(f"{k}={v}" for k, v in params.items()))


def route_status(gh, path):
    r = admin(gh, "GET", "/status")
    assert r.status == 200, r
    for rt in r.json()["routes"]:
        if rt["path"] == path:
            return rt
    raise AssertionError(f"no route {path} in /status: {r.body[:1000]!r}")


def parallel(n, fn, timeout=15.0):
    """Runs fn(i) in n threads started together; returns (results, seconds)."""
    results = [None] * n
    errors = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(5)
            results[i] = fn(i)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads), "a client thread did not finish"
    assert not errors, errors
    return results, elapsed


# --------------------------------------------------------------------------
# Origin replies


def numbered(cc="max-age=60", extra=(), status=200, size=None, ctype="text/plain",
             delay=0.0, chunked=False):
    """A handler answering `<path> v<n>` (n counts this path's requests from
    1), so a test can tell which origin response a client got."""
    def handler(req, n):
        body = f"{req.path} v{n + 1}\n".encode()
        if size:
            body = (body * (size // len(body) + 1))[:size]
        hdrs = [("Content-Type", ctype)]
        if cc is not None:
            hdrs.append(("Cache-Control", cc))
        hdrs += list(extra)
        return Reply(status, hdrs, body, delay=delay, chunked=chunked)
    return handler


def body_v(path, n):
    return f"{path} v{n}\n".encode()


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def org():
    o = CacheOrigin()
    yield o
    o.stop()


@pytest.fixture
def front(gatehouse, org):
    """front(cache=True, routes=None, admin=False, origin=None, server=None, ssl=None) -> gatehouse.

    routes: a list of (path, cache value or None, extra route keys); by default
    one route "/" to the origin with `cache`. server: extra `server` keys."""
    def make(cache=True, routes=None, admin=False, origin=None, server=None, ssl=None):
        o = origin or org
        if routes is None:
            routes = [("/", cache, {})]
        rps = []
        for path, c, extra in routes:
            r = route(o, path, **extra)
            if c is not None:
                r["cache"] = c
            rps.append(r)
        srv = {"timeouts": {"shutdown_drain": "2s"}}
        srv.update(server or {})
        srv["reverse_proxy"] = rps
        cfg = {"server": srv}
        if ssl:
            cfg["ssl"] = ssl
        admin_port = None
        if admin:
            admin_port = free_port()
            cfg["admin"] = {"enabled": True, "host": HOST, "port": admin_port}
        gh = gatehouse(cfg)
        gh.admin_port = admin_port
        return gh
    return make


# ==========================================================================
# Configuration


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def error_lines(stderr, path):
    import re
    rx = re.compile(r"^(?:.*/)?" + re.escape(path.name) + r":(\d+):(\d+): (.+)$")
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in map(rx.match, stderr.splitlines()) if m]


@pytest.mark.parametrize("text,line,cols", [
    ("""\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 9000
              cache: {max_size: banana}
        """, 7, (15, 25)),
    ("""\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 9000
              cache:
                max_size: banana
        """, 8, (9, 19)),
    ("""\
        server:
          port: 18080
          cache: {max_object: 1.5k}
        """, 3, (11, 23)),
], ids=["flow-map", "block-map", "server-max-object"])
def test_config_error_bad_size(tmp_path, text, line, cols):
    p = write(tmp_path, "cache.yaml", textwrap.dedent(text))
    for args in (("check", "-c", str(p)), ("run", "-c", str(p))):
        r = run_gatehouse(*args)
        assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
        errs = error_lines(r.stderr, p)
        assert any(e[0] == line and e[1] in cols for e in errs), (errs, r.stderr)


def test_config_error_unknown_key_and_bad_bool(tmp_path):
    p = write(tmp_path, "cache2.yaml", textwrap.dedent("""\
        server:
          port: 18080
          reverse_proxy:
            - path: /a
              host: 127.0.0.1
              port: 9000
              cache: {max_sise: 1m}
            - path: /b
              host: 127.0.0.1
              port: 9000
              cache: maybe
        """))
    r = run_gatehouse("check", "-c", str(p))
    assert r.returncode == 1, (r.stdout, r.stderr)
    errs = error_lines(r.stderr, p)
    assert any(e[0] == 7 and "max_size" in e[2] for e in errs), errs   # did you mean 'max_size'
    assert any(e[0] == 11 for e in errs), errs


def test_config_max_size_alone_below_default_max_object(tmp_path):
    """docs/caching.md: each key has its own default; `max_size: 1m` says
    nothing about max_object, whose default (8m) is larger."""
    p = write(tmp_path, "small.yaml", textwrap.dedent("""\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 9000
              cache: {max_size: 1m}
        """))
    r = run_gatehouse("check", "-c", str(p))
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_config_good_forms_pass_check(tmp_path):
    p = write(tmp_path, "ok.yaml", textwrap.dedent("""\
        server:
          port: 18080
          cache: true
          reverse_proxy:
            - path: /a
              host: 127.0.0.1
              port: 9000
              cache: {max_size: 16m, max_object: 1m}
            - path: /b
              host: 127.0.0.1
              port: 9000
              cache: false
        """))
    r = run_gatehouse("check", "-c", str(p))
    assert r.returncode == 0, (r.stdout, r.stderr)


# ==========================================================================
# On, off, defaults


def test_off_by_default_no_cache_status(front, org):
    org.set_default(numbered())
    gh = front(cache=None)
    for i in (1, 2):
        r = get(gh, "/x")
        assert r.status == 200 and r.body == body_v("/x", i)
        assert not r.has("cache-status"), r.headers
    assert org.count("/x") == 2


def test_miss_then_hit(front, org):
    org.set_default(numbered("max-age=60"))
    gh = front()
    r = get(gh, "/x")
    assert r.status == 200 and r.body == body_v("/x", 1)
    assert_stored(r)
    for _ in range(3):
        r = get(gh, "/x")
        assert r.status == 200 and r.body == body_v("/x", 1), r
        cs = assert_hit(r)
        assert 57 <= int(cs["ttl"]) <= 60, r.headers
        assert r.header("age") is not None and 0 <= int(r.header("age")) <= 3, r.headers
        assert r.header("cache-control") == "max-age=60"
        assert r.header("content-type") == "text/plain"
        assert r.header("content-length") == str(len(body_v("/x", 1)))
    assert org.count("/x") == 1


def test_server_wide_default_and_route_override(front, org):
    org.set_default(numbered())
    gh = front(routes=[("/on", None, {}), ("/off", False, {})], server={"cache": True})
    assert_stored(get(gh, "/on/x"))
    assert_hit(get(gh, "/on/x"))
    get(gh, "/off/x")
    r = get(gh, "/off/x")
    assert not r.has("cache-status") and r.body == body_v("/off/x", 2), r.headers
    assert org.count("/on/x") == 1 and org.count("/off/x") == 2


def test_reload_starts_stores_empty(front, org):
    org.set_default(numbered())
    gh = front()
    assert_stored(get(gh, "/x"))
    assert_hit(get(gh, "/x"))
    before = gh.stderr().count("configuration reloaded")
    gh.signal(__import__("signal").SIGHUP)
    assert wait_until(lambda: gh.stderr().count("configuration reloaded") > before, 5), gh.stderr()
    r = get(gh, "/x")
    assert_stored(r)
    assert r.body == body_v("/x", 2)
    assert org.count("/x") == 2


# ==========================================================================
# What is stored, and why not


@pytest.mark.parametrize("resp_headers,req_headers,detail", [
    ([("Cache-Control", "no-store, max-age=60")], [], "no-store"),
    ([("Cache-Control", "max-age=60")], [("Cache-Control", "no-store")], "request-no-store"),
    ([("Cache-Control", "private, max-age=60")], [], "private"),
    ([("Cache-Control", "public, max-age=60"), ("Set-Cookie", "sid=abc; Path=/")], [], "set-cookie"),
    ([("ETag", '"e1"'), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")], [], "no-freshness"),
    ([("Cache-Control", "max-age=60"), ("Vary", "*")], [], "vary-star"),
    ([("Cache-Control", "max-age=60")], [("Authorization", "Bearer alice")], "authorization"),
    ([("Cache-Control", "max-age=0")], [], "no-reuse"),
    ([("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")], [], "no-reuse"),
    ([("Expires", "0")], [], "no-reuse"),                     # invalid: already expired (5.3)
    ([("Cache-Control", "public"), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")], [],
     "no-freshness"),                                         # no heuristic freshness
    ([("Cache-Control", 'private="X-Secret", max-age=60'), ("X-Secret", "s")], [], "private"),
    ([("Surrogate-Control", "max-age=60")], [], "no-freshness"),   # not read
], ids=["no-store", "request-no-store", "private", "set-cookie", "no-freshness", "vary-star",
        "authorization", "max-age-0", "expires-past", "expires-invalid", "public-only",
        "qualified-private", "surrogate-control"])
def test_not_stored(front, org, resp_headers, req_headers, detail):
    org.set_default(numbered(cc=None, extra=resp_headers))
    gh = front()
    for i in (1, 2):
        r = get(gh, "/x", headers=req_headers)
        assert r.status == 200 and r.body == body_v("/x", i), r
        assert_not_stored(r, detail)
    assert org.count("/x") == 2
    # nor for a later request without the request's own reason
    r = get(gh, "/x")
    assert r.body == body_v("/x", 3), r
    assert org.count("/x") == 3


def test_set_cookie_never_served_from_store(front, org):
    """Not stored with Set-Cookie; and a 304 that brings a Set-Cookie does not
    put one into the stored response."""
    etag = '"c1"'

    def handler(req, n):
        if not_modified(req, etag):
            return Reply(304, [("Cache-Control", "max-age=60"), ("ETag", etag),
                               ("Set-Cookie", "sid=secret")])
        return Reply(200, [("Cache-Control", "max-age=1"), ("ETag", etag)], b"cookie-less")
    org.set("/c", handler)
    org.set("/sc", numbered("public, max-age=60", extra=[("Set-Cookie", "sid=mine")]))
    gh = front()
    r = get(gh, "/sc")
    assert r.header("set-cookie") == "sid=mine"
    assert_not_stored(r, "set-cookie")
    r = get(gh, "/sc")
    assert r.body == body_v("/sc", 2) and r.header("set-cookie") == "sid=mine"
    assert_stored(get(gh, "/c"))
    time.sleep(2.1)
    r = get(gh, "/c")            # revalidated: 304 with Set-Cookie
    assert r.status == 200 and r.body == b"cookie-less"
    assert org.count("/c") == 2
    assert org.last("/c").header("if-none-match") == etag
    for _ in range(2):
        r = get(gh, "/c")
        assert r.status == 200 and r.body == b"cookie-less"
        assert not r.has("set-cookie"), r.headers


@pytest.mark.parametrize("cc", ["public, max-age=60", "s-maxage=60", "max-age=60, must-revalidate"])
def test_authorization_stored_when_response_allows(front, org, cc):
    org.set_default(numbered(cc))
    gh = front()
    r = get(gh, "/x", headers=[("Authorization", "Bearer alice")])
    assert_stored(r)
    r = get(gh, "/x", headers=[("Authorization", "Bearer alice")])
    assert_hit(r)
    assert r.body == body_v("/x", 1)
    assert org.count("/x") == 1


def test_authorization_request_not_served_anothers_response(front, org):
    def handler(req, n):
        who = req.header("authorization", "nobody")
        return Reply(200, [("Cache-Control", "max-age=60")], f"for {who}".encode())
    org.set("/me", handler)
    gh = front()
    a = get(gh, "/me", headers=[("Authorization", "Bearer alice")])
    assert a.body == b"for Bearer alice"
    assert_not_stored(a, "authorization")
    b = get(gh, "/me", headers=[("Authorization", "Bearer bob")])
    assert b.body == b"for Bearer bob", b
    anon = get(gh, "/me")
    assert anon.body == b"for nobody", anon
    assert_stored(anon)
    assert org.count("/me") == 3


@pytest.mark.parametrize("status", [200, 203, 301, 404, 410])
def test_final_statuses_with_lifetime_are_stored(front, org, status):
    extra = [("Location", "/elsewhere")] if status == 301 else []
    org.set_default(numbered(status=status, extra=extra))
    gh = front()
    r = get(gh, "/x")
    assert r.status == status
    assert_stored(r)
    r = get(gh, "/x")
    assert r.status == status and r.body == body_v("/x", 1)
    assert_hit(r)
    assert org.count("/x") == 1


def test_206_from_origin_not_stored(front, org):
    org.set_default(numbered(status=206, extra=[("Content-Range", "bytes 0-7/100")], size=8))
    gh = front()
    r = get(gh, "/x")
    assert r.status == 206
    assert_not_stored(r, "status")
    get(gh, "/x")
    assert org.count("/x") == 2


def test_transfer_coding_other_than_chunked_not_stored(front, org):
    data = b"coded by the transfer coding " * 50
    coded = gzip.compress(data)
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(coded), coded)
    org.set("/tc", Reply(200, [("Cache-Control", "max-age=60"),
                               ("Transfer-Encoding", "gzip, chunked")], framed, raw=True))
    gh = front()
    for _ in (1, 2):
        r = get(gh, "/tc")
        assert r.status == 200, r
        assert_not_stored(r, "transfer-coding")
    assert org.count("/tc") == 2


def test_must_understand_with_unknown_status_not_stored(front, org):
    org.set("/mu", numbered("must-understand, max-age=60", status=299))
    gh = front()
    for _ in (1, 2):
        r = get(gh, "/mu")
        assert r.status == 299
        assert_not_stored(r, "must-understand")
    assert org.count("/mu") == 2


def test_no_freshness_404_carries_cache_status(front, org):
    gh = front()
    r = get(gh, "/nothing-here")     # the origin's own 404, no Cache-Control
    assert r.status == 404
    assert_not_stored(r, "no-freshness")


def test_hop_by_hop_fields_not_stored(front, org):
    org.set_default(numbered(extra=[("Connection", "X-Hop"), ("X-Hop", "1"),
                                    ("Keep-Alive", "timeout=5"), ("X-End", "kept")]))
    gh = front()
    get(gh, "/x")
    r = get(gh, "/x")
    assert_hit(r)
    assert r.header("x-end") == "kept"
    for name in ("x-hop", "keep-alive", "transfer-encoding", "upgrade", "trailer"):
        assert not r.has(name), (name, r.headers)


def test_proxy_made_error_carries_cache_status(front, org):
    gh = front()
    org.stop()
    r = get(gh, "/x")
    assert r.status in (502, 503), r
    cs = cache_status(r)
    assert cs is not None and cs.get("fwd") == "miss" and "fwd-status" not in cs, r.headers


def test_access_log_cache_field(front, org):
    org.set_default(numbered())
    gh = front()
    ids = [get(gh, "/x").header("x-request-id") for _ in range(2)]
    assert all(ids), ids

    def records():
        by_id = {rec.get("request_id"): rec for rec in gh.access_log()}
        return [by_id.get(i) for i in ids] if all(i in by_id for i in ids) else None
    recs = wait_until(records, 5)   # (workers write their lines in no fixed order)
    assert recs, gh.stdout()[-2000:]
    first, second = recs[0].get("cache"), recs[1].get("cache")
    assert isinstance(first, str) and "fwd=miss" in first and "stored" in first, recs
    assert isinstance(second, str) and second.startswith("hit"), recs


# ==========================================================================
# Freshness


def test_max_age_expires_then_refetched(front, org):
    org.set_default(numbered("max-age=2"))
    gh = front()
    assert_stored(get(gh, "/x"))
    assert_hit(get(gh, "/x"))
    time.sleep(2.1)
    r = get(gh, "/x")
    assert r.body == body_v("/x", 2), r
    cs = cache_status(r)
    assert cs.get("fwd") == "stale" and cs.get("stored") is True, r.headers
    assert org.count("/x") == 2
    assert_hit(get(gh, "/x"))


def test_s_maxage_wins_over_max_age(front, org):
    org.set("/short", numbered("max-age=600, s-maxage=2"))
    org.set("/long", numbered("max-age=1, s-maxage=600"))
    gh = front()
    get(gh, "/short")
    get(gh, "/long")
    r = get(gh, "/long")
    assert 590 <= ttl(r) <= 600, r.headers
    time.sleep(2.1)
    assert get(gh, "/short").body == body_v("/short", 2)
    r = get(gh, "/long")
    assert_hit(r)
    assert org.count("/short") == 2 and org.count("/long") == 1


def test_expires_minus_date(front, org):
    def handler(req, n):
        now = int(time.time())
        return Reply(200, [("Date", http_date(now)), ("Expires", http_date(now + 2))],
                     f"exp v{n + 1}".encode())
    org.set("/e", handler)
    gh = front()
    assert_stored(get(gh, "/e"))
    r = get(gh, "/e")
    assert_hit(r)
    assert 0 <= ttl(r) <= 2
    time.sleep(2.1)
    assert get(gh, "/e").body == b"exp v2"
    assert org.count("/e") == 2


def test_max_age_wins_over_expires(front, org):
    org.set_default(numbered("max-age=60", extra=[("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")]))
    gh = front()
    assert_stored(get(gh, "/x"))
    r = get(gh, "/x")
    assert_hit(r)
    assert ttl(r) >= 57
    assert org.count("/x") == 1


def test_age_from_origin_counts(front, org):
    org.set_default(numbered("max-age=32", extra=[("Age", "30")]))
    gh = front()
    assert_stored(get(gh, "/x"))
    r = get(gh, "/x")
    assert_hit(r)
    assert 30 <= int(r.header("age")) <= 32, r.headers
    assert 0 <= ttl(r) <= 2, r.headers
    time.sleep(2.1)
    r = get(gh, "/x")
    assert r.body == body_v("/x", 2), r
    assert org.count("/x") == 2


def test_age_grows_while_stored(front, org):
    org.set_default(numbered("max-age=60"))
    gh = front()
    get(gh, "/x")
    a0 = int(get(gh, "/x").header("age"))
    time.sleep(1.6)
    r = get(gh, "/x")
    assert_hit(r)
    assert int(r.header("age")) >= a0 + 1, (a0, r.headers)
    assert ttl(r) <= 60 - 1


def test_pipelined_hits_and_misses_answered_in_order(front, org):
    """On one connection, a hit pipelined behind a slow miss waits its turn."""
    org.set("/slow", Reply(200, [("Cache-Control", "max-age=60")], b"slow miss", delay=0.7))
    org.set("/fast", Reply(200, [("Cache-Control", "max-age=60")], b"fast hit"))
    gh = front()
    assert_stored(get(gh, "/fast"))
    order = ["/slow", "/fast", "/fast", "/slow", "/fast"]
    with connect(gh.port) as s:
        s.sendall(b"".join(build_request("GET", p, host=HOSTNAME) for p in order))
        rd = SockReader(s)
        got = [read_response(rd).body for _ in order]
    assert got == [b"slow miss" if p == "/slow" else b"fast hit" for p in order], got
    assert org.count("/slow") == 1 and org.count("/fast") == 1


@pytest.mark.deadline(40)
def test_large_hits_whole_to_parallel_and_slow_readers(front, org):
    """A 3 MiB stored response reaches several clients at once, one of them
    reading slowly while the route's store is purged under it."""
    body = bytes(range(256)) * (3 * 4096)
    org.set("/big", Reply(200, [("Cache-Control", "max-age=60"),
                                ("Content-Type", "application/octet-stream")], body))
    gh = front(admin=True)
    assert get(gh, "/big").body == body
    results, _ = parallel(4, lambda i: get(gh, "/big"))
    assert all(r.body == body and is_hit(cache_status(r)) for r in results)
    with connect(gh.port) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(build_request("GET", "/big", host=HOSTNAME))
        rd = SockReader(s)
        head = rd.read_until(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0] and b"; hit" in head, head
        assert b"content-length: %d\r\n" % len(body) in head.lower(), head
        got = bytearray(rd.read_exact(1000))
        time.sleep(0.3)
        assert purge(gh, route="/").json() == {"purged": 1}
        while len(got) < len(body):
            got += rd.read_exact(min(65536, len(body) - len(got)))
    assert bytes(got) == body
    assert org.count("/big") == 1


# ==========================================================================
# Vary


def test_vary_variants(front, org):
    def handler(req, n):
        lang = req.header("accept-language", "none")
        return Reply(200, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
                     f"lang={lang} v{n + 1}".encode())
    org.set("/v", handler)
    gh = front()
    r = get(gh, "/v", [("Accept-Language", "en")])
    assert r.body == b"lang=en v1"
    assert_stored(r)
    r = get(gh, "/v", [("Accept-Language", "fr")])
    assert r.body == b"lang=fr v2"
    assert_stored(r, fwd="vary-miss")
    r = get(gh, "/v", [("Accept-Language", "en")])
    assert r.body == b"lang=en v1"
    assert_hit(r)
    r = get(gh, "/v", [("accept-language", "fr")])
    assert r.body == b"lang=fr v2"
    assert_hit(r)
    r = get(gh, "/v")
    assert r.body == b"lang=none v3"
    assert cache_status(r).get("fwd") == "vary-miss", r.headers
    assert get(gh, "/v").body == b"lang=none v3"
    assert org.count("/v") == 3


def test_vary_values_compared_after_trimming_list_spacing(front, org):
    def handler(req, n):
        return Reply(200, [("Cache-Control", "max-age=60"), ("Vary", "x-list, X-Other")],
                     f"v{n + 1}".encode())
    org.set("/v", handler)
    gh = front()
    assert_stored(get(gh, "/v", [("X-List", "a,b"), ("X-Other", "1")]))
    for spelling in ("a, b", "a ,  b", "a,b"):
        r = get(gh, "/v", [("X-List", spelling), ("X-Other", "1")])
        assert r.body == b"v1", (spelling, r)
        assert_hit(r)
    r = get(gh, "/v", [("X-List", "a,b"), ("X-Other", "2")])
    assert r.body == b"v2"
    assert org.count("/v") == 2


# ==========================================================================
# The key


def test_key_is_the_target_as_sent(front, org):
    """The key is the path as the client spelled it, which is what the
    backend receives: each spelling is its own entry, so the backend's answer
    to an odd spelling is never served for the plain one."""
    def handler(req, n):
        return Reply(200, [("Cache-Control", "max-age=60")], f"for {req.target}".encode())
    org.set_default(handler)
    gh = front()
    assert_stored(get(gh, "/a/b"))
    for spelling in ("/a/./b", "/a//b", "/a/%62"):
        r = get(gh, spelling)
        assert r.body == f"for {spelling}".encode(), (spelling, r)
        assert_stored(r)
        assert_hit(get(gh, spelling))
    r = get(gh, "/a/b")
    assert_hit(r)
    assert r.body == b"for /a/b"
    assert org.count() == 4


def test_an_odd_spelling_cannot_poison_the_plain_url(front, org):
    """The trial's attack: the backend answers "/items//42" with what it
    resolves that to (here: stale data); a later "/items/42" must get the
    backend's own answer for "/items/42", not the stored odd one."""
    def handler(req, n):
        value = b"poison" if "//" in req.target else b"real"
        return Reply(200, [("Cache-Control", "max-age=300")], value)
    org.set_default(handler)
    gh = front()
    assert get(gh, "/items//42").body == b"poison"
    r = get(gh, "/items/42")
    assert r.body == b"real", r
    assert not is_hit(cache_status(r))


def test_key_query_byte_for_byte(front, org):
    def handler(req, n):
        return Reply(200, [("Cache-Control", "max-age=60")], f"{req.target} #{len(org.seen())}".encode())
    org.set("/q", handler)
    gh = front()
    r1 = get(gh, "/q?a=1&b=2")
    assert_stored(r1)
    assert_hit(get(gh, "/q?a=1&b=2"))
    for other in ("/q?b=2&a=1", "/q?a=%31&b=2", "/q?a=1&b=2&", "/q"):
        r = get(gh, other)
        assert r.body.startswith(other.encode() + b" #"), (other, r)
        assert_stored(r)
    assert org.count("/q") == 5


def test_key_host_case_and_default_port(front, org):
    def handler(req, n):
        return Reply(200, [("Cache-Control", "max-age=60")],
                     f"host={req.header('host')} v{n + 1}".encode())
    org.set("/h", handler)
    gh = front()
    r = get(gh, "/h", host="example.test")
    assert r.body == b"host=example.test v1"
    for spelling in ("Example.TEST", "EXAMPLE.test:80", "example.test:80"):
        r = get(gh, "/h", host=spelling)
        assert r.body == b"host=example.test v1", (spelling, r)
        assert_hit(r)
    assert org.count("/h") == 1
    r = get(gh, "/h", host="example.test:8080")
    assert r.body == b"host=example.test:8080 v2"
    r = get(gh, "/h", host="other.test")
    assert r.body == b"host=other.test v3"
    assert org.count("/h") == 3


def test_scheme_is_part_of_the_key(front, org, tmp_path):
    """http and https are distinct keys (also for purging)."""
    pytest.importorskip("trustme")
    import trustme
    import tls_helpers as th
    leaf = th.write_leaf(trustme.CA(), tmp_path / "pki", "front", [HOSTNAME], "front")
    org.set_default(numbered())
    gh = front(admin=True, ssl={"enabled": True, "port": free_port(),
                                "cert_file": str(leaf.cert), "key_file": str(leaf.key)})

    def https(target):
        return th.https_request(gh.tls_port, target=target, host=HOSTNAME, sni=HOSTNAME,
                                verify=False)
    assert_stored(get(gh, "/x"))
    r = https("/x")
    assert r.body == body_v("/x", 2), r
    assert_stored(r)
    r = https("/x")
    assert r.body == body_v("/x", 2)
    assert_hit(r)
    r = get(gh, "/x")
    assert r.body == body_v("/x", 1)
    assert_hit(r)
    r = purge(gh, url=f"https://{HOSTNAME}/x")
    assert r.status == 200 and r.json() == {"purged": 1}, r
    assert_hit(get(gh, "/x"))
    assert https("/x").body == body_v("/x", 3)
    assert org.count("/x") == 3


# ==========================================================================
# Request directives (RFC 9111 5.2.1)


@pytest.mark.parametrize("cc", ["no-cache", "max-age=0"])
def test_request_no_cache_and_max_age_0_go_upstream(front, org, cc):
    org.set_default(numbered())
    gh = front()
    get(gh, "/x")
    if cc == "max-age=0":
        time.sleep(1.1)     # an age of 0 would still satisfy max-age=0 (RFC 9111 5.2.1.1)
    r = get(gh, "/x", [("Cache-Control", cc)])
    assert r.body == body_v("/x", 2), r
    cs = cache_status(r)
    assert cs.get("fwd") == "request" and cs.get("fwd-status") == "200", r.headers
    assert org.count("/x") == 2
    r = get(gh, "/x")                 # the new response replaced the stored one
    assert_hit(r)
    assert r.body == body_v("/x", 2)
    assert org.count("/x") == 2


def test_request_max_age(front, org):
    org.set_default(numbered())
    gh = front()
    get(gh, "/x")
    time.sleep(2.1)
    r = get(gh, "/x", [("Cache-Control", "max-age=30")])
    assert_hit(r)
    r = get(gh, "/x", [("Cache-Control", "max-age=1")])
    assert r.body == body_v("/x", 2), r
    assert cache_status(r).get("fwd") == "request", r.headers
    assert org.count("/x") == 2


def test_request_min_fresh(front, org):
    org.set_default(numbered())
    gh = front()
    get(gh, "/x")
    r = get(gh, "/x", [("Cache-Control", "min-fresh=10")])
    assert_hit(r)
    r = get(gh, "/x", [("Cache-Control", "min-fresh=100")])
    assert r.body == body_v("/x", 2), r
    assert cache_status(r).get("fwd") == "request", r.headers
    assert org.count("/x") == 2


def test_request_max_stale(front, org):
    org.set_default(numbered("max-age=1"))
    gh = front()
    get(gh, "/x")
    time.sleep(2.1)
    for cc in ("max-stale=60", "max-stale"):
        r = get(gh, "/x", [("Cache-Control", cc)])
        assert r.body == body_v("/x", 1), (cc, r)
        cs = assert_hit(r)
        assert int(cs["ttl"]) < 0, r.headers
        assert int(r.header("age")) >= 2
    assert org.count("/x") == 1
    r = get(gh, "/x", [("Cache-Control", "max-stale=0")])
    assert r.body == body_v("/x", 2), r
    assert org.count("/x") == 2


def test_max_stale_does_not_override_must_revalidate(front, org):
    """RFC 9111 5.2.2.2: a stale must-revalidate response is never served
    without revalidation, whatever max-stale says."""
    org.set_default(numbered("max-age=1, must-revalidate"))
    gh = front()
    get(gh, "/x")
    time.sleep(2.1)
    r = get(gh, "/x", [("Cache-Control", "max-stale=60")])
    assert r.body == body_v("/x", 2), r
    assert org.count("/x") == 2


def test_only_if_cached(front, org):
    org.set_default(numbered("max-age=1"))
    gh = front()
    r = get(gh, "/x", [("Cache-Control", "only-if-cached")])
    assert r.status == 504, r
    cs = cache_status(r)
    assert cs is not None and cs.get("detail") == "only-if-cached", r.headers
    assert org.count("/x") == 0
    get(gh, "/x")
    r = get(gh, "/x", [("Cache-Control", "only-if-cached")])
    assert r.status == 200 and r.body == body_v("/x", 1), r
    assert_hit(r)
    time.sleep(2.1)                   # now stale: nothing usable
    r = get(gh, "/x", [("Cache-Control", "only-if-cached")])
    assert r.status == 504, r
    assert cache_status(r).get("detail") == "only-if-cached", r.headers
    r = get(gh, "/x", [("Cache-Control", "only-if-cached, max-stale=60")])
    assert r.status == 200 and r.body == body_v("/x", 1), r
    assert org.count("/x") == 1


# ==========================================================================
# Revalidation


def revalidating_origin(org, path, etag=None, last_modified=None, first_cc="max-age=1",
                        cc_304="max-age=60"):
    """First answer: 200 with the validators and `first_cc`, X-Version: 1. A
    matching conditional gets 304 with `cc_304` and X-Version: 2; anything
    else 200 `body vN`."""
    def handler(req, n):
        hdrs = [("Content-Type", "text/plain")]
        if etag:
            hdrs.append(("ETag", etag))
        if last_modified:
            hdrs.append(("Last-Modified", last_modified))
        if n > 0 and not_modified(req, etag, last_modified):
            return Reply(304, hdrs + [("Cache-Control", cc_304), ("X-Version", "2")])
        return Reply(200, hdrs + [("Cache-Control", first_cc), ("X-Version", "1")],
                     f"body v{n + 1}".encode())
    org.set(path, handler)


@pytest.mark.parametrize("validators", ["etag", "last-modified", "both"])
def test_revalidation_304_updates_stored_fields(front, org, validators):
    etag = '"r1"' if validators in ("etag", "both") else None
    lm = http_date(time.time() - 3600) if validators in ("last-modified", "both") else None
    revalidating_origin(org, "/r", etag, lm)
    gh = front()
    r = get(gh, "/r")
    assert_stored(r)
    assert r.header("x-version") == "1"
    time.sleep(2.1)
    r = get(gh, "/r")
    assert r.status == 200 and r.body == b"body v1", r
    assert r.header("x-version") == "2", r.headers
    assert_stored(r, fwd="stale", status=304)
    up = org.last("/r")
    assert up.header("if-none-match") == etag, up.headers
    assert up.header("if-modified-since") == lm, up.headers
    r = get(gh, "/r")
    cs = assert_hit(r)
    assert r.body == b"body v1" and r.header("x-version") == "2", r.headers
    assert r.header("cache-control") == "max-age=60", r.headers
    assert int(cs["ttl"]) >= 55, r.headers
    assert org.count("/r") == 2


def test_revalidation_200_replaces(front, org):
    def handler(req, n):
        return Reply(200, [("Cache-Control", "max-age=1" if n == 0 else "max-age=60"),
                           ("ETag", f'"e{n + 1}"')], f"body v{n + 1}".encode())
    org.set("/r", handler)
    gh = front()
    get(gh, "/r")
    time.sleep(2.1)
    r = get(gh, "/r")
    assert r.body == b"body v2" and r.header("etag") == '"e2"', r
    assert_stored(r, fwd="stale", status=200)
    assert org.last("/r").header("if-none-match") == '"e1"'
    r = get(gh, "/r")
    assert_hit(r)
    assert r.body == b"body v2" and r.header("etag") == '"e2"'
    assert org.count("/r") == 2


def test_client_conditionals_not_sent_upstream(front, org):
    lm = http_date(time.time() - 3600)
    revalidating_origin(org, "/r", '"r1"', lm)
    gh = front()
    get(gh, "/r")
    time.sleep(2.1)
    mine_date = http_date(time.time() - 60)
    r = get(gh, "/r", [("If-None-Match", '"mine"'), ("If-Modified-Since", mine_date)])
    assert r.status == 200 and r.body == b"body v1", r   # "mine" does not match "r1"
    up = org.last("/r")
    assert up.header("if-none-match") == '"r1"', up.headers
    assert up.header("if-modified-since") == lm, up.headers
    assert org.count("/r") == 2


def test_client_conditional_on_stale_entry_gets_304(front, org):
    revalidating_origin(org, "/r", '"r1"')
    gh = front()
    get(gh, "/r")
    time.sleep(2.1)
    r = get(gh, "/r", [("If-None-Match", '"r1"')])
    assert r.status == 304 and r.body == b"", r
    assert r.header("etag") == '"r1"'
    assert org.last("/r").header("if-none-match") == '"r1"'
    assert org.count("/r") == 2


def test_response_no_cache_always_revalidated(front, org):
    revalidating_origin(org, "/r", '"n1"', first_cc="no-cache, max-age=60",
                        cc_304="no-cache, max-age=60")
    gh = front()
    assert_stored(get(gh, "/r"))
    for i in (2, 3):
        r = get(gh, "/r")
        assert r.status == 200 and r.body == b"body v1", r
        cs = cache_status(r)
        assert cs.get("fwd-status") == "304", r.headers
        assert org.count("/r") == i
        assert org.last("/r").header("if-none-match") == '"n1"'


def test_response_no_cache_without_lifetime_stored_with_validator(front, org):
    """`no-cache` with an ETag and no lifetime: stored, revalidated at every use."""
    revalidating_origin(org, "/r", '"n2"', first_cc="no-cache", cc_304="no-cache")
    org.set("/nv", numbered("no-cache"))       # no validator: nothing to revalidate with
    gh = front()
    assert_stored(get(gh, "/r"))
    r = get(gh, "/r")
    assert r.status == 200 and r.body == b"body v1", r
    assert cache_status(r).get("fwd-status") == "304", r.headers
    assert org.last("/r").header("if-none-match") == '"n2"'
    assert org.count("/r") == 2
    r = get(gh, "/nv")
    assert "stored" not in cache_status(r), r.headers
    assert get(gh, "/nv").body == body_v("/nv", 2)


def test_304_naming_another_representation_updates_nothing(front, org):
    def handler(req, n):
        if n == 0:
            return Reply(200, [("Cache-Control", "max-age=1"), ("ETag", '"a"'),
                               ("X-Version", "1")], b"body a")
        return Reply(304, [("Cache-Control", "max-age=60"), ("ETag", '"b"'), ("X-Version", "2")])
    org.set("/m", handler)
    gh = front()
    get(gh, "/m")
    time.sleep(2.1)
    r = get(gh, "/m")
    assert r.status == 200 and r.body == b"body a", r
    assert r.header("x-version") == "1" and r.header("etag") == '"a"', r.headers
    cs = cache_status(r)
    assert cs.get("fwd") == "stale" and cs.get("fwd-status") == "304", r.headers
    assert cs.get("detail") == "304-mismatch" and "stored" not in cs, r.headers
    assert org.last("/m").header("if-none-match") == '"a"'


# ==========================================================================
# Client conditionals answered from the store


def test_client_conditionals_answered_from_store(front, org):
    lm = http_date(time.time() - 3600)
    org.set_default(numbered("max-age=60", extra=[("ETag", '"v1"'), ("Last-Modified", lm)]))
    gh = front()
    get(gh, "/x")
    cases = [
        ([("If-None-Match", '"v1"')], 304),
        ([("If-None-Match", 'W/"v1"')], 304),          # weak comparison
        ([("If-None-Match", '"zz", "v1"')], 304),
        ([("If-None-Match", "*")], 304),
        ([("If-None-Match", '"other"')], 200),
        ([("If-Modified-Since", lm)], 304),
        ([("If-Modified-Since", http_date(time.time() - 7200))], 200),
        ([("If-None-Match", '"other"'), ("If-Modified-Since", lm)], 200),  # INM decides
    ]
    for hdrs, want in cases:
        r = get(gh, "/x", hdrs)
        assert r.status == want, (hdrs, r)
        assert_hit(r)
        if want == 304:
            assert r.body == b"" and r.header("etag") == '"v1"', (hdrs, r.headers)
            assert r.header("cache-control") == "max-age=60", r.headers
        else:
            assert r.body == body_v("/x", 1)
    assert org.count("/x") == 1


def test_304_from_origin_not_stored(front, org):
    """A client's conditional on a miss may reach the origin; its 304 is never
    stored: a later unconditional request gets the whole 200."""
    org.set("/x", validating(Reply(200, [("Cache-Control", "max-age=60"), ("ETag", '"v1"')],
                                   b"full body"), etag='"v1"'))
    gh = front()
    r = get(gh, "/x", [("If-None-Match", '"v1"')])
    assert r.status == 304 and r.body == b"", r
    for _ in range(2):
        r = get(gh, "/x")
        assert r.status == 200 and r.body == b"full body", r
    assert_hit(r)
    assert org.count("/x") <= 2


def test_weak_etag_of_compressed_response_revalidates_from_store(front, org):
    """The compressed form carries W/"v1"; a client that cached it sends that
    back, and weak comparison (If-None-Match) makes it a 304 from the store."""
    org.set("/page", Reply(200, [("Cache-Control", "max-age=60"), ("ETag", '"v1"'),
                                 ("Content-Type", "text/html")], TEXT))
    gh = front(routes=[("/", True, {"compress": True})])
    r = get(gh, "/page", [("Accept-Encoding", "gzip")])
    assert r.header("content-encoding") == "gzip" and r.header("etag") == 'W/"v1"', r.headers
    r = get(gh, "/page", [("Accept-Encoding", "gzip"), ("If-None-Match", 'W/"v1"')])
    assert r.status == 304 and r.body == b"", r
    assert_hit(r)
    assert org.count("/page") == 1


# ==========================================================================
# HEAD


def test_head_from_stored_get(front, org):
    org.set_default(numbered(size=1234))
    gh = front()
    get(gh, "/x")
    with connect(gh.port) as s:
        rd = SockReader(s)
        s.sendall(build_request("HEAD", "/x", host=HOSTNAME))
        h = read_response(rd, "HEAD")
        assert h.status == 200
        assert h.header("content-length") == "1234", h.headers
        assert_hit(h)
        # nothing after the head: the next response on the connection parses
        s.sendall(build_request("GET", "/x", host=HOSTNAME))
        g = read_response(rd)
        assert g.status == 200 and len(g.body) == 1234
    assert org.count("/x") == 1


def test_head_miss_is_not_stored_as_get(front, org):
    """A HEAD that misses is forwarded; a HEAD response is no GET response."""
    org.set_default(numbered(size=100))
    gh = front()
    h = get(gh, "/x", method="HEAD")
    assert h.status == 200 and h.body == b"" and h.header("content-length") == "100"
    r = get(gh, "/x")
    assert r.status == 200 and r.body == numbered(size=100)(org.last("/x"), org.count("/x") - 1).body, r
    methods = [q.method for q in org.seen("/x")]
    if "HEAD" in methods:
        assert methods == ["HEAD", "GET"], methods
        assert cache_status(r).get("fwd") == "miss", r.headers


# ==========================================================================
# Range


RANGE_BODY = bytes(range(256)) * 4 + b"0123456789" * 10     # 1124 bytes


@pytest.fixture
def ranged(front, org):
    """A gatehouse with /r (1124 bytes, ETag "r1", Last-Modified an hour ago)
    stored by one full GET."""
    lm = http_date(time.time() - 3600)
    org.set("/r", Reply(200, [("Cache-Control", "max-age=60"), ("ETag", '"r1"'),
                              ("Last-Modified", lm), ("Accept-Ranges", "bytes"),
                              ("Content-Type", "application/octet-stream")], RANGE_BODY))
    gh = front()
    assert get(gh, "/r").body == RANGE_BODY
    gh.lm = lm
    return gh


@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-9", 0, 9),
    ("bytes=-5", 1119, 1123),
    ("bytes=1100-", 1100, 1123),
    ("bytes=1120-5000", 1120, 1123),
    ("bytes=0-0", 0, 0),
])
def test_range_from_store(ranged, org, spec, first, last):
    n = len(RANGE_BODY)
    r = get(ranged, "/r", [("Range", spec)])
    assert r.status == 206, r
    assert r.header("content-range") == f"bytes {first}-{last}/{n}", r.headers
    assert r.header("content-length") == str(last - first + 1)
    assert r.body == RANGE_BODY[first:last + 1]
    assert_hit(r)
    assert org.count("/r") == 1


def test_range_unsatisfiable_416(ranged, org):
    r = get(ranged, "/r", [("Range", "bytes=5000-")])
    assert r.status == 416, r
    assert r.header("content-range") == f"bytes */{len(RANGE_BODY)}", r.headers
    assert org.count("/r") == 1


def test_several_ranges_get_whole_200(ranged, org):
    r = get(ranged, "/r", [("Range", "bytes=0-1,5-6")])
    assert r.status == 200 and r.body == RANGE_BODY, r
    assert_hit(r)
    assert org.count("/r") == 1


def test_if_range(ranged, org):
    cases = [('"r1"', 206), ('"other"', 200), ('W/"r1"', 200), (ranged.lm, 206),
             (http_date(time.time() - 7200), 200)]
    for if_range, want in cases:
        r = get(ranged, "/r", [("Range", "bytes=0-9"), ("If-Range", if_range)])
        assert r.status == want, (if_range, r)
        assert r.body == (RANGE_BODY[:10] if want == 206 else RANGE_BODY), if_range
    assert org.count("/r") == 1


def test_range_miss_forwarded_as_is_and_206_not_stored(front, org):
    def handler(req, n):
        hdrs = [("Cache-Control", "max-age=60"), ("ETag", '"r1"')]
        rng = req.header("range")
        if rng == "bytes=0-9":
            return Reply(206, hdrs + [("Content-Range", f"bytes 0-9/{len(RANGE_BODY)}")],
                         RANGE_BODY[:10])
        return Reply(200, hdrs, RANGE_BODY)
    org.set("/r", handler)
    gh = front()
    r = get(gh, "/r", [("Range", "bytes=0-9")])
    assert r.status == 206 and r.body == RANGE_BODY[:10], r
    assert cache_status(r).get("fwd") == "bypass", r.headers
    assert org.last("/r").header("range") == "bytes=0-9"
    r = get(gh, "/r")
    assert r.status == 200 and r.body == RANGE_BODY
    assert_stored(r)
    assert org.count("/r") == 2
    assert org.last("/r").header("range") is None


def test_get_with_body_bypasses(front, org):
    org.set_default(numbered())
    gh = front()
    get(gh, "/x")
    r = get(gh, "/x", body=b"hello")
    assert cache_status(r).get("fwd") == "bypass", r.headers
    assert r.body == body_v("/x", 2)
    assert org.last("/x").body == b"hello"
    assert_hit(get(gh, "/x"))
    assert org.count("/x") == 2


# ==========================================================================
# Invalidation (RFC 9111 4.4)


@pytest.mark.parametrize("method,status,invalidates", [
    ("POST", 200, True), ("PUT", 201, True), ("DELETE", 204, True), ("PATCH", 200, True),
    ("POST", 303, True), ("POST", 302, True), ("PURGEX", 200, True),
    ("POST", 404, False), ("POST", 500, False), ("DELETE", 403, False), ("PUT", 503, False),
    ("OPTIONS", 200, False),
])
def test_unsafe_method_invalidates(front, org, method, status, invalidates):
    gets = numbered()

    def handler(req, n):
        if req.method == "GET":
            return gets(req, len(org.seen(req.path, "GET")) - 1)
        extra = [("Location", "/somewhere")] if 300 <= status < 400 else []
        return Reply(status, extra, b"done")
    org.set("/inv", handler)
    gh = front()
    assert_stored(get(gh, "/inv"))
    r = get(gh, "/inv", method=method, body=b"data" if method != "OPTIONS" else b"")
    assert r.status == status, r
    assert cache_status(r).get("fwd") == "method", r.headers
    r = get(gh, "/inv")
    if invalidates:
        assert r.body == body_v("/inv", 2), r
        assert_stored(r)
        assert org.count("/inv", "GET") == 2
    else:
        assert r.body == body_v("/inv", 1), r
        assert_hit(r)
        assert org.count("/inv", "GET") == 1


def test_invalidation_of_location_and_content_location(front, org):
    for p in ("/items/1", "/items/2", "/items/3", "/items/4"):
        org.set(p, numbered())

    def post(req, n):
        if n == 0:
            return Reply(201, [("Location", "/items/1"),
                               ("Content-Location", "http://example.test/items/2")], b"made")
        return Reply(201, [("Location", "http://other.test/items/3")], b"made")
    org.set("/items", post)
    gh = front()
    for p in ("/items/1", "/items/2", "/items/4"):
        get(gh, p)
    get(gh, "/items/3", host="other.test")
    r = get(gh, "/items", method="POST", body=b"new")
    assert r.status == 201
    assert get(gh, "/items/1").body == body_v("/items/1", 2)
    assert get(gh, "/items/2").body == body_v("/items/2", 2)
    assert_hit(get(gh, "/items/4"))
    # Location of another origin (other.test, while the request was for example.test): kept
    get(gh, "/items", method="POST", body=b"new")
    r = get(gh, "/items/3", host="other.test")
    assert_hit(r)
    assert org.count("/items/3") == 1 and org.count("/items/4") == 1


def test_invalidation_uses_the_normalized_key_and_every_variant(front, org):
    def handler(req, n):
        if req.method != "GET":
            return Reply(204, [])
        return Reply(200, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
                     f"{req.header('accept-language')} v{n + 1}".encode())
    org.set_default(handler)
    gh = front()
    get(gh, "/inv/x", [("Accept-Language", "en")])
    get(gh, "/inv/x", [("Accept-Language", "fr")])
    assert_hit(get(gh, "/inv/x", [("Accept-Language", "en")]))
    r = get(gh, "/inv/./x", method="DELETE")
    assert r.status == 204
    for lang in ("en", "fr"):
        r = get(gh, "/inv/x", [("Accept-Language", lang)])
        assert not is_hit(cache_status(r)), (lang, r.headers)
    assert org.count("/inv/x", "GET") == 4


def test_invalidation_reaches_every_routes_store(front, org):
    org.set("/r2/page", numbered())
    org.set("/r1/form", Reply(200, [("Location", "/r2/page")], b"ok"))
    gh = front(routes=[("/r1", True, {}), ("/r2", True, {})])
    assert_stored(get(gh, "/r2/page"))
    assert_hit(get(gh, "/r2/page"))
    get(gh, "/r1/form", method="POST", body=b"x")
    r = get(gh, "/r2/page")
    assert r.body == body_v("/r2/page", 2), r
    assert org.count("/r2/page") == 2


# ==========================================================================
# stale-while-revalidate, stale-if-error (RFC 5861)


def test_stale_while_revalidate(front, org):
    def handler(req, n):
        if n == 0:
            return Reply(200, [("Cache-Control", "max-age=1, stale-while-revalidate=30"),
                               ("ETag", '"s1"')], b"body v1")
        return Reply(200, [("Cache-Control", "max-age=60"), ("ETag", '"s2"')], b"body v2",
                     delay=1.0)
    org.set("/s", handler)
    gh = front()
    get(gh, "/s")
    time.sleep(2.1)
    for i in range(3):                 # the background request takes 1 s
        t0 = time.monotonic()
        r = get(gh, "/s")
        took = time.monotonic() - t0
        assert r.status == 200 and r.body == b"body v1", r
        cs = assert_hit(r, detail="stale-while-revalidate")
        assert int(cs["ttl"]) < 0, r.headers
        assert took < 0.6, f"request {i} waited {took:.2f}s for the revalidation"
    assert org.wait_count(2, "/s", timeout=3) == 2
    assert org.last("/s").header("if-none-match") == '"s1"'
    time.sleep(1.5)                    # the background response has been stored
    r = get(gh, "/s")
    assert r.body == b"body v2", r
    cs = assert_hit(r)
    assert int(cs["ttl"]) >= 55
    assert org.count("/s") == 2


def test_stale_beyond_stale_while_revalidate_waits(front, org):
    def handler(req, n):
        cc = "max-age=1, stale-while-revalidate=1" if n == 0 else "max-age=60"
        return Reply(200, [("Cache-Control", cc)], f"body v{n + 1}".encode(),
                     delay=0.0 if n == 0 else 0.8)
    org.set("/s", handler)
    gh = front()
    get(gh, "/s")
    time.sleep(3.1)                    # stale by 2 s at least (ages are whole seconds)
    t0 = time.monotonic()
    r = get(gh, "/s")
    assert r.body == b"body v2", r
    assert time.monotonic() - t0 >= 0.7
    assert org.count("/s") == 2


@pytest.mark.parametrize("failure", ["500", "502", "503", "504", "close", "down", "timeout"])
def test_stale_if_error(front, org, failure):
    def handler(req, n):
        if n == 0:
            return Reply(200, [("Cache-Control", "max-age=1, stale-if-error=60")], b"good")
        if failure == "close":
            return Reply(action="close")
        if failure == "timeout":
            return Reply(action="hang")
        return Reply(int(failure), [("Content-Type", "text/plain")], b"bad")
    org.set("/e", handler)
    gh = front(server={"timeouts": {"shutdown_drain": "2s", "upstream_response": "1s"}})
    get(gh, "/e")
    time.sleep(2.1)
    if failure == "down":
        org.stop()
    r = get(gh, "/e")
    assert r.status == 200 and r.body == b"good", r
    cs = cache_status(r)
    assert cs is not None and cs.get("fwd") == "stale" and cs.get("detail") == "stale-if-error", \
        r.headers
    assert "hit" not in cs and "stored" not in cs, r.headers
    if failure.isdigit():
        assert cs.get("fwd-status") == failure, r.headers
        assert org.count("/e") == 2
    else:
        assert "fwd-status" not in cs, r.headers


def test_stale_if_error_from_request(front, org):
    def handler(req, n):
        if n == 0:
            return Reply(200, [("Cache-Control", "max-age=1")], b"good")
        return Reply(503, [], b"bad")
    org.set("/e", handler)
    gh = front()
    get(gh, "/e")
    time.sleep(2.1)
    r = get(gh, "/e", [("Cache-Control", "stale-if-error=60")])
    assert r.status == 200 and r.body == b"good", r
    assert cache_status(r).get("detail") == "stale-if-error", r.headers
    r = get(gh, "/e")               # without it, the error passes
    assert r.status == 503 and r.body == b"bad", r


def test_stale_if_error_window_and_non_errors(front, org):
    def handler(req, n):
        if n == 0:
            return Reply(200, [("Cache-Control", "max-age=1, stale-if-error=1")], b"good")
        return Reply(503, [], b"bad")
    org.set("/e", handler)

    def handler404(req, n):
        if n == 0:
            return Reply(200, [("Cache-Control", "max-age=1, stale-if-error=60")], b"good")
        return Reply(404, [], b"gone")
    org.set("/g", handler404)
    gh = front()
    get(gh, "/e")
    get(gh, "/g")
    time.sleep(3.1)                     # stale by 2 s at least: past stale-if-error=1
    r = get(gh, "/e")
    assert r.status == 503 and r.body == b"bad", r
    r = get(gh, "/g")                   # a 404 is an answer, not a failure
    assert r.status == 404 and r.body == b"gone", r


# ==========================================================================
# Concurrent misses


@pytest.mark.deadline(40)
def test_concurrent_misses_collapse(front, org):
    org.set("/slow", Reply(200, [("Cache-Control", "max-age=60")], b"slow body", delay=1.0))
    gh = front()
    results, took = parallel(10, lambda i: get(gh, "/slow"))
    assert all(r.status == 200 and r.body == b"slow body" for r in results), results
    assert org.count("/slow") == 1
    statuses = [cache_status(r) for r in results]
    stored = [cs for cs in statuses if cs.get("fwd") == "miss" and cs.get("stored")]
    collapsed = [cs for cs in statuses if is_hit(cs) and cs.get("detail") == "collapsed"]
    assert len(stored) == 1 and len(collapsed) == 9, statuses
    assert took < 4.0


@pytest.mark.deadline(40)
def test_uncacheable_slow_response_does_not_serialize(front, org):
    org.set("/p", Reply(200, [("Cache-Control", "private")], b"private body", delay=1.5))
    gh = front()
    results, took = parallel(8, lambda i: get(gh, "/p"))
    assert all(r.status == 200 and r.body == b"private body" for r in results)
    assert org.count("/p") == 8
    assert took < 5.0, f"8 waiters took {took:.2f}s"   # not 8 x 1.5 s
    # for the next 10 s, requests for that key do not wait for each other
    org.max_in_flight = 0
    results, took = parallel(5, lambda i: get(gh, "/p"))
    assert all(r.status == 200 for r in results)
    assert org.count("/p") == 13
    assert org.max_in_flight >= 5, org.max_in_flight
    assert took < 2.7, f"5 requests took {took:.2f}s"


@pytest.mark.deadline(40)
def test_first_response_too_large_releases_waiters(front, org):
    """The first response grows past max_object (no Content-Length): the
    waiters go upstream at once instead of waiting for a store that will not
    happen."""
    org.set("/big", numbered(size=4000, chunked=True, delay=1.0))
    gh = front(cache={"max_size": "1m", "max_object": "1k"})
    results, took = parallel(5, lambda i: get(gh, "/big"))
    for r in results:
        assert r.status == 200 and len(r.body) == 4000 and r.body.startswith(b"/big v"), r
    assert org.count("/big") == 5
    assert took < 3.5, f"5 requests took {took:.2f}s"


@pytest.mark.deadline(40)
def test_waiters_wait_at_most_upstream_response(front, org):
    """The first request's backend never answers: it times out after
    timeouts.upstream_response (504), and its waiters wait no longer than
    that either before they are answered or go upstream themselves."""
    org.set("/hang", Reply(action="hang"))
    gh = front(server={"timeouts": {"shutdown_drain": "2s", "upstream_response": "1s"}})
    results, took = parallel(4, lambda i: get(gh, "/hang"))
    assert all(r.status == 504 for r in results), [r.status for r in results]
    for r in results:     # proxy-made: the Cache-Status of the forward that failed
        cs = cache_status(r)
        assert cs is not None and cs.get("fwd") == "miss" and "fwd-status" not in cs, r.headers
    assert took < 3.5, f"4 requests took {took:.2f}s with upstream_response 1s"


@pytest.mark.deadline(40)
def test_collapsed_waiters_still_match_vary(front, org):
    """Waiters are served from the store, so Vary still applies: a waiter
    whose Accept-Language differs from the first request's never gets the
    first request's variant."""
    def handler(req, n):
        lang = req.header("accept-language", "none")
        return Reply(200, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
                     f"lang={lang}".encode(), delay=1.0)
    org.set("/v", handler)
    gh = front()
    langs = ["en", "fr", "en", "fr", "de", "en"]
    results, took = parallel(len(langs), lambda i: get(gh, "/v", [("Accept-Language", langs[i])]))
    for lang, r in zip(langs, results):
        assert r.status == 200 and r.body == f"lang={lang}".encode(), (lang, r)
    assert 3 <= org.count("/v") <= 6
    for lang in ("en", "fr", "de"):
        r = get(gh, "/v", [("Accept-Language", lang)])
        assert r.body == f"lang={lang}".encode()
        assert_hit(r)


def test_collapsed_waiters_over_http2(front, org):
    pytest.importorskip("h2.connection")
    org.set("/slow", Reply(200, [("Cache-Control", "max-age=60")], b"slow h2", delay=1.0))
    gh = front()
    got = h2_get(gh.port, [("/slow", [])] * 4)
    assert [s for s, _, _ in got] == [200] * 4, got
    assert all(b == b"slow h2" for _, _, b in got)
    assert org.count("/slow") == 1


# ==========================================================================
# Sizes


def test_max_object(front, org):
    org.set("/big", numbered(size=4000))
    org.set("/huge", numbered(size=3 << 20))
    org.set("/small", numbered(size=900))
    gh = front(cache={"max_size": "1m", "max_object": "1k"}, admin=True)
    for path, size in (("/big", 4000), ("/huge", 3 << 20)):
        for i in (1, 2):
            r = get(gh, path)
            assert r.status == 200 and len(r.body) == size, (path, r.status, len(r.body))
            assert r.body == numbered(size=size)(org.last(path), i - 1).body
            assert_not_stored(r, "too-large")
        assert org.count(path) == 2
    assert_stored(get(gh, "/small"))
    assert_hit(get(gh, "/small"))
    c = route_status(gh, "/")["cache"]
    assert c["stores"] == 1 and c["entries"] == 1, c


def test_max_object_body_of_unknown_length(front, org):
    """A chunked response that grows past max_object streams on whole and is
    not stored. Its Cache-Status went out with the head (docs: it may say
    `stored`); the access log and /status tell what happened."""
    org.set("/bigchunked", numbered(size=4000, chunked=True))
    gh = front(cache={"max_size": "1m", "max_object": "1k"}, admin=True)
    ids = []
    for i in (1, 2):
        r = get(gh, "/bigchunked")
        assert r.status == 200
        assert r.body == numbered(size=4000)(org.last("/bigchunked"), i - 1).body
        cs = cache_status(r)
        assert cs.get("fwd") == "miss" and cs.get("detail") in (None, "too-large"), r.headers
        ids.append(r.header("x-request-id"))
    assert org.count("/bigchunked") == 2
    c = route_status(gh, "/")["cache"]
    assert c["stores"] == 0 and c["entries"] == 0, c

    def records():
        by_id = {rec.get("request_id"): rec for rec in gh.access_log()}
        return [by_id.get(i) for i in ids] if all(i in by_id for i in ids) else None
    recs = wait_until(records, 5)
    assert recs, gh.stdout()[-2000:]
    for rec in recs:
        assert "too-large" in rec.get("cache", "") and "stored" not in rec.get("cache", ""), rec


def test_default_max_object_stores_moderate_response(front, org):
    org.set("/m", numbered(size=1 << 20))
    gh = front()
    assert_stored(get(gh, "/m"))
    r = get(gh, "/m")
    assert_hit(r)
    assert len(r.body) == 1 << 20
    assert org.count("/m") == 1


def test_max_size_evicts_least_recently_used(front, org):
    for p in ("/a", "/b", "/c"):
        org.set(p, numbered(size=3500))
    gh = front(cache={"max_size": "10k", "max_object": "10k"}, admin=True)
    assert_stored(get(gh, "/a"))
    assert_stored(get(gh, "/b"))
    assert_hit(get(gh, "/a"))           # /a is now more recent than /b
    assert_stored(get(gh, "/c"))        # three do not fit: /b goes
    assert_hit(get(gh, "/a"))
    assert_hit(get(gh, "/c"))
    r = get(gh, "/b")
    assert r.body == numbered(size=3500)(org.last("/b"), 1).body
    assert_stored(r)
    assert [org.count(p) for p in ("/a", "/b", "/c")] == [1, 2, 1]
    c = route_status(gh, "/")["cache"]
    assert c["evictions"] >= 2, c
    assert c["max_bytes"] == 10240, c
    assert c["bytes"] <= 10240 and c["entries"] == 2, c


def test_max_size_holds_what_fits(front, org):
    """Two responses of 3.5 KB fit in max_size 10k whatever max_object is:
    nothing is evicted before the store holds max_size bytes."""
    for p in ("/a", "/b", "/c", "/d"):
        org.set(p, numbered(size=3500))
    gh = front(cache={"max_size": "10k", "max_object": "5k"})
    for pair in itertools.combinations(("/a", "/b", "/c", "/d"), 2):
        for p in pair:
            get(gh, p)
        for p in pair:
            r = get(gh, p)
            assert is_hit(cache_status(r)), (pair, p, r.headers)


# ==========================================================================
# Purging and /status on the admin listener


@pytest.fixture
def purgeable(front, org):
    """Routes /p and /q, cached; stored: /p/x in two variants, /p/y, /p/w, /q/z."""
    def handler(req, n):
        return Reply(200, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
                     f"{req.path} {req.header('accept-language')} v{n + 1}".encode())
    org.set_default(handler)
    gh = front(routes=[("/p", True, {}), ("/q", True, {})], admin=True)
    for path, lang in (("/p/x", "en"), ("/p/x", "fr"), ("/p/y", "en"), ("/p/w", "en"),
                       ("/q/z", "en")):
        r = get(gh, path, [("Accept-Language", lang)])
        assert_stored(r, fwd="vary-miss" if lang == "fr" else "miss")
    for path, lang in (("/p/x", "en"), ("/p/x", "fr"), ("/p/y", "en"), ("/q/z", "en")):
        assert_hit(get(gh, path, [("Accept-Language", lang)]))
    return gh


def test_purge_by_url(purgeable, org):
    gh = purgeable
    r = purge(gh, url="http://example.test/p/x")
    assert r.status == 200, r
    assert r.json() == {"purged": 2}, r.body
    assert r.header("content-type", "").startswith("application/json"), r.headers
    for lang, n in (("en", 3), ("fr", 4)):
        r = get(gh, "/p/x", [("Accept-Language", lang)])
        assert r.body == f"/p/x {lang} v{n}".encode(), r
        assert not is_hit(cache_status(r)), r.headers
    assert org.count("/p/x") == 4
    assert_hit(get(gh, "/p/y", [("Accept-Language", "en")]))


def test_purge_url_is_normalized(purgeable, org):
    gh = purgeable
    r = purge(gh, url="http://EXAMPLE.test:80/p/./y")
    assert r.status == 200 and r.json() == {"purged": 1}, r
    assert not is_hit(cache_status(get(gh, "/p/y", [("Accept-Language", "en")])))
    r = purge(gh, url="http://example.test/p//w")
    assert r.status == 200 and r.json() == {"purged": 1}, r


def test_purge_url_percent_encoded_parameter(purgeable, org):
    gh = purgeable
    r = purge(gh, url=urllib.parse.quote("http://example.test/p/y", safe=""))
    assert r.status == 200 and r.json() == {"purged": 1}, r


def test_purge_http_and_https_are_distinct(purgeable, org):
    gh = purgeable
    r = purge(gh, url="https://example.test/q/z")
    assert r.status == 200 and r.json() == {"purged": 0}, r
    assert_hit(get(gh, "/q/z", [("Accept-Language", "en")]))


def test_purge_by_route(purgeable, org):
    gh = purgeable
    r = purge(gh, route="/q")
    assert r.status == 200 and r.json() == {"purged": 1}, r
    c = route_status(gh, "/q")["cache"]
    assert c["entries"] == 0 and c["bytes"] == 0, c
    assert not is_hit(cache_status(get(gh, "/q/z", [("Accept-Language", "en")])))
    assert_hit(get(gh, "/p/y", [("Accept-Language", "en")]))     # another route's store
    r = purge(gh, route="/p")
    assert r.status == 200 and r.json() == {"purged": 4}, r
    assert not is_hit(cache_status(get(gh, "/p/w", [("Accept-Language", "en")])))


@pytest.mark.parametrize("method,target,want", [
    ("POST", "/cache/purge", 400),
    ("POST", "/cache/purge?foo=bar", 400),
    ("POST", "/cache/purge?route=/nope", 404),
    ("GET", "/cache/purge?route=/p", 405),
    ("DELETE", "/cache/purge?url=http://example.test/p/x", 405),
])
def test_purge_errors(purgeable, org, method, target, want):
    gh = purgeable
    r = admin(gh, method, target)
    assert r.status == want, r
    assert_hit(get(gh, "/p/x", [("Accept-Language", "en")]))     # nothing purged


def test_status_cache_counters(front, org):
    org.set_default(numbered(size=500))
    gh = front(routes=[("/s", {"max_size": "16m"}, {}), ("/n", None, {})], admin=True)
    get(gh, "/s/x")
    get(gh, "/s/x")
    get(gh, "/s/x")
    get(gh, "/s/u", [("Cache-Control", "no-store")])   # a miss, not stored
    c = route_status(gh, "/s")["cache"]
    assert c["hits"] == 2, c
    assert c["misses"] == 2, c
    assert c["stores"] == 1, c
    assert c["evictions"] == 0, c
    assert c["entries"] == 1, c
    assert 500 <= c["bytes"] <= 16 << 20, c
    assert c["max_bytes"] == 16 << 20, c
    assert route_status(gh, "/n").get("cache") in (None, {}), route_status(gh, "/n")


# ==========================================================================
# Compression composes with the cache


def test_compression_from_one_stored_response(front, org):
    brotli = pytest.importorskip("brotli")
    zstandard = pytest.importorskip("zstandard")
    org.set("/page", Reply(200, [("Cache-Control", "max-age=60"),
                                 ("Content-Type", "text/html; charset=utf-8")], TEXT))
    gh = front(routes=[("/", True, {"compress": True})])
    decoders = {"gzip": gzip.decompress, "br": brotli.decompress,
                "zstd": lambda d: zstandard.ZstdDecompressor().decompressobj().decompress(d),
                None: lambda d: d}
    seen = []
    for ae, want in (("gzip", "gzip"), ("br", "br"), (None, None), ("identity", None),
                     ("zstd", "zstd"), ("gzip", "gzip")):
        r = get(gh, "/page", [("Accept-Encoding", ae)] if ae else [])
        assert r.status == 200
        assert r.header("content-encoding") == want, (ae, r.headers)
        assert decoders[want](r.body) == TEXT, ae
        assert "accept-encoding" in r.header("vary", "").lower(), r.headers
        seen.append(cache_status(r))
    assert seen[0].get("fwd") == "miss" and seen[0].get("stored"), seen
    assert all(is_hit(cs) for cs in seen[1:]), seen
    assert org.count("/page") == 1


def test_curl_compressed_hit(front, org):
    org.set("/page", Reply(200, [("Cache-Control", "max-age=60"), ("Content-Type", "text/html")],
                           TEXT))
    gh = front(routes=[("/", True, {"compress": True})])
    for i in (1, 2):
        p = subprocess.run(["curl", "-sS", "--compressed", "-D", "-", "-o", "-", "--max-time", "10",
                            "-H", f"Host: {HOSTNAME}", gh.url("/page")],
                           capture_output=True, timeout=20)
        assert p.returncode == 0, p.stderr
        head, _, body = p.stdout.partition(b"\r\n\r\n")
        assert body == TEXT
        assert (b"; hit" in head) == (i == 2), head
    assert org.count("/page") == 1


# ==========================================================================
# HTTP/2 clients


def h2_get(port, reqs, authority=HOSTNAME, timeout=10.0):
    """Sends every (path, headers) of reqs as streams on one h2c connection
    (prior knowledge) at once; returns [(status, headers dict, body)]."""
    import h2.config
    import h2.connection
    import h2.events
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                 header_encoding="utf-8"))
        c.initiate_connection()
        sids = []
        for path, hdrs in reqs:
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                 (":authority", authority), (":path", path)]
                           + [(n.lower(), v) for n, v in hdrs], end_stream=True)
            sids.append(sid)
        s.sendall(c.data_to_send())
        heads = {}
        bodies = {sid: b"" for sid in sids}
        ended = set()
        deadline = time.monotonic() + timeout
        while len(ended) < len(sids) and time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    heads[ev.stream_id] = list(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    ended.add(ev.stream_id)
            out = c.data_to_send()
            if out:
                s.sendall(out)
    result = []
    for sid in sids:
        hl = heads.get(sid, [])
        status = next((int(v) for n, v in hl if n == ":status"), None)
        result.append((status, hl, bodies[sid]))
    return result


class H2Resp:
    """Adapts an h2 answer to what cache_status() reads."""

    def __init__(self, headers):
        self.headers = [(n, v) for n, v in headers if not n.startswith(":")]

    def headers_all(self, name):
        return [v for n, v in self.headers if n == name.lower()]


def test_http2_clients_get_hits(front, org):
    pytest.importorskip("h2.connection")
    org.set_default(numbered())
    gh = front()
    assert_stored(get(gh, "/one"))                          # stored by HTTP/1.1 ...
    [(st, hl, body)] = h2_get(gh.port, [("/one", [])])      # ... served to HTTP/2
    assert st == 200 and body == body_v("/one", 1), (st, hl, body)
    assert is_hit(cache_status(H2Resp(hl))), hl
    [(st, hl, body)] = h2_get(gh.port, [("/two", [])])      # stored by HTTP/2 ...
    assert st == 200 and cache_status(H2Resp(hl)).get("stored"), hl
    [(st, hl, body)] = h2_get(gh.port, [("/two", [])])
    assert is_hit(cache_status(H2Resp(hl))) and body == body_v("/two", 1), hl
    r = get(gh, "/two")                                     # ... and to HTTP/1.1
    assert_hit(r)
    assert org.count("/one") == 1 and org.count("/two") == 1


def test_curl_http2_prior_knowledge_hit(front, org):
    org.set_default(numbered())
    gh = front()
    get(gh, "/x")
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-",
                        "--max-time", "10", "-H", f"Host: {HOSTNAME}", gh.url("/x")],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/2 200"), head
    assert b"cache-status: gatehouse; hit" in head.lower(), head
    assert body == body_v("/x", 1)
    assert org.count("/x") == 1


# ==========================================================================
# Found by a user's trial: writes racing reads, coded 304s, variant floods


def _item_origin(org, path):
    state = {"value": b"initial"}

    def handler(req, n):
        if req.method == "POST":
            state["value"] = req.body or b"posted"
            return Reply(200, [], b"ok")
        value = state["value"]            # read before the slow part, as an app would
        return Reply(200, [("Cache-Control", "max-age=300")], value, delay=1.0)
    org.set(path, handler)
    return state


def test_a_read_in_flight_during_a_write_is_not_stored(front, org):
    """A GET that reached the backend before a POST to the same URL carries
    the old value; stored after the POST's invalidation, it would be served
    for the whole max-age, even to the user who just wrote."""
    _item_origin(org, "/slowitem/1")
    gh = front()
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", get(gh, "/slowitem/1")))
    t.start()
    time.sleep(0.3)
    assert get(gh, "/slowitem/1", method="POST", body=b"NEW").status == 200
    t.join(10)
    assert got["r"].body == b"initial"   # (it did start before the write)
    r = get(gh, "/slowitem/1")
    assert r.body == b"NEW", r
    assert not is_hit(cache_status(r))


def test_a_read_after_a_write_does_not_wait_for_an_older_read(front, org):
    """A GET sent after the POST's answer must not be handed the response of
    a GET that started before the POST (collapsing onto it)."""
    _item_origin(org, "/slowitem/2")
    gh = front()
    t = threading.Thread(target=lambda: get(gh, "/slowitem/2"))
    t.start()
    time.sleep(0.3)
    assert get(gh, "/slowitem/2", method="POST", body=b"NEW2").status == 200
    r = get(gh, "/slowitem/2")
    t.join(10)
    assert r.body == b"NEW2", r
    assert cache_status(r).get("detail") != "collapsed", r.headers


def test_a_304_from_the_store_names_what_the_coded_200_did(front, org):
    """RFC 9110 15.4.5: the 304 carries the ETag and Vary the client's 200
    had. Compressed, that 200 said W/"app-v1" and Vary: Accept-Encoding."""
    org.set("/app.js", Reply(200, [("Cache-Control", "public, max-age=60"), ("ETag", '"app-v1"'),
                                    ("Content-Type", "application/javascript")], b"x" * 4000))
    gh = front(routes=[("/", True, {"compress": True})])
    r = get(gh, "/app.js", [("Accept-Encoding", "gzip")])
    assert r.header("content-encoding") == "gzip", r.headers
    assert r.header("etag") == 'W/"app-v1"'
    r = get(gh, "/app.js", [("Accept-Encoding", "gzip"), ("If-None-Match", 'W/"app-v1"')])
    assert r.status == 304, r
    assert r.header("etag") == 'W/"app-v1"', r.headers
    assert "accept-encoding" in (r.header("vary") or "").lower(), r.headers
    # A client that takes no coding gets the strong tag, as its 200 would.
    r = get(gh, "/app.js", [("If-None-Match", '"app-v1"')])
    assert r.status == 304 and r.header("etag") == '"app-v1"', r.headers


def test_416_from_the_store_has_its_reason_phrase(front, org):
    org.set("/r416", Reply(200, [("Cache-Control", "max-age=60")], b"0123456789"))
    gh = front()
    get(gh, "/r416")
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/r416", headers=[("Host", HOSTNAME), ("Range", "bytes=999-")]))
        line = SockReader(s).read_until(b"\r\n")
    assert line.startswith(b"HTTP/1.1 416 Range Not Satisfiable"), line


def test_variants_of_one_url_are_bounded(front, org):
    """Vary on a field each client sets freely: one URL keeps at most 32
    variants, so its list (and every lookup's scan of it) cannot grow without
    bound."""
    org.set("/vary-flood", Reply(200, [("Cache-Control", "max-age=60"), ("Vary", "X-Foo")], b"v"))
    gh = front(admin=True)
    for i in range(48):
        assert_stored(get(gh, "/vary-flood", [("X-Foo", f"v{i}")]), fwd="vary-miss" if i else "miss")
    status = route_status(gh, "/")
    assert status["cache"]["entries"] == 32, status
    assert_hit(get(gh, "/vary-flood", [("X-Foo", "v47")]))
    assert not is_hit(cache_status(get(gh, "/vary-flood", [("X-Foo", "v0")])))   # the oldest went


def test_writes_to_other_urls_do_not_stop_a_read_from_being_stored(front, org):
    """Only a write to the same URL voids a read in flight: a busy site's
    POSTs elsewhere must not keep its pages out of the store (a first
    version voided every fetch that shared a store shard with a write)."""
    org.set("/page", Reply(200, [("Cache-Control", "max-age=60")], b"page", delay=2.0))
    org.set_default(lambda req, n: Reply(204, []))
    gh = front()
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", get(gh, "/page")))
    t.start()
    time.sleep(0.3)
    for i in range(200):
        r = get(gh, f"/form/{i}", method="POST", body=b"x")
        assert r.status == 204 and cache_status(r).get("fwd") == "method", r.headers
    t.join(10)
    assert_stored(got["r"])
    assert_hit(get(gh, "/page"))
