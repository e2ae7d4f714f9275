"""rate_limit with store: local (CONTRACT "Policies"): a token bucket per key
(client_ip, header:NAME, route); over the limit, 429 with Retry-After, the IETF
RateLimit-Policy / RateLimit fields and a Proxy-Status naming the policy; the
access log names it too. Counts are exact within one gatehouse process,
whatever connection or protocol a client's requests come over."""

import re
import time

import pytest

from helpers import http_request, route, wait_until

pytestmark = pytest.mark.deadline(20)

FRONT = "front.test"


def get(gh, path="/small", headers=None):
    return http_request(gh.port, "GET", path, headers=headers, host=FRONT)


def limited(gatehouse, origin, rl, path="/", extra_routes=()):
    o = origin()
    routes = [route(o, path, rate_limit=rl)] + [route(o, p) for p in extra_routes]
    return gatehouse({"server": {"reverse_proxy": routes}})


def statuses(gh, n, path="/small", headers=None):
    return [get(gh, path, headers).status for _ in range(n)]


def test_burst_then_429_with_its_fields(gatehouse, origin):
    gh = limited(gatehouse, origin, {"rate": "1/m", "burst": 3})
    assert statuses(gh, 3) == [200, 200, 200]
    r = get(gh)
    assert r.status == 429, r
    retry = int(r.header("retry-after"))
    assert 1 <= retry <= 60, r.headers          # one token a minute
    assert r.header("ratelimit-policy") == '"gatehouse";q=1;w=60', r.headers
    m = re.fullmatch(r'"gatehouse";r=0;t=(\d+)', r.header("ratelimit") or "")
    assert m and int(m.group(1)) == retry, r.headers
    ps = r.header("proxy-status") or ""
    assert "error=http_request_denied" in ps and "rate_limit" in ps, ps
    assert wait_until(lambda: any(x["status"] == 429 and x["policy"] == "rate_limit"
                                  for x in gh.access_log()), 5), gh.access_log()


def test_the_rate_refills_the_bucket(gatehouse, origin):
    gh = limited(gatehouse, origin, {"rate": "5/s", "burst": 1})
    assert statuses(gh, 2) == [200, 429]
    time.sleep(0.25)                 # one token every 0.2 s
    assert statuses(gh, 2) == [200, 429]


def test_exact_count_over_many_connections(gatehouse, origin):
    """Each request on a new connection (and so, with several workers, on any
    of them): the count is still exact."""
    gh = limited(gatehouse, origin, {"rate": "1/h", "burst": 20})
    got = statuses(gh, 30)
    assert got.count(200) == 20 and got[:20] == [200] * 20, got


def test_keys_by_header_are_apart_and_missing_ones_share(gatehouse, origin):
    gh = limited(gatehouse, origin, {"rate": "1/h", "burst": 2, "key": "header:X-Api-Key"})
    assert statuses(gh, 3, headers={"X-Api-Key": "alice"}) == [200, 200, 429]
    assert statuses(gh, 3, headers={"X-Api-Key": "bob"}) == [200, 200, 429]
    assert statuses(gh, 3) == [200, 200, 429]          # no key: one shared bucket
    r = get(gh, headers={"X-Api-Key": "alice"})
    assert r.status == 429 and "X-Api-Key" in (r.header("proxy-status") or ""), r.headers


def test_key_route_is_one_bucket_and_other_routes_are_free(gatehouse, origin):
    gh = limited(gatehouse, origin, {"rate": "1/h", "burst": 2, "key": "route"}, path="/limited",
                 extra_routes=["/"])
    assert statuses(gh, 2, "/limited/small") == [200, 200]
    assert get(gh, "/limited/small", headers={"X-Forwarded-For": "10.9.9.9"}).status == 429
    assert statuses(gh, 5, "/small") == [200] * 5


def test_http2_streams_count_against_the_same_bucket(gatehouse, origin):
    from test_http2 import H2Client
    gh = limited(gatehouse, origin, {"rate": "1/h", "burst": 4})
    assert statuses(gh, 2) == [200, 200]
    with H2Client(gh.port) as c:
        got = [c.request("GET", "/small").status for _ in range(4)]
    assert got == [200, 200, 429, 429], got


def test_a_server_level_limit_applies_per_route(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"rate_limit": {"rate": "1/h", "burst": 1},
                               "reverse_proxy": [route(o, "/a"), route(o, "/b")]}})
    assert [get(gh, "/a/small").status, get(gh, "/a/small").status] == [200, 429]
    assert get(gh, "/b/small").status == 200   # its own bucket
