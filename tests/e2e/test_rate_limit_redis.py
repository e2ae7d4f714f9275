"""rate_limit with store: redis (CONTRACT "Policies", issue 15): the buckets
live in a real redis-server, so every gatehouse naming it meets one limit;
the 429 is the same as with store: local. Redis down: fail open (requests
pass, a warning in the log, the admin /status counter grows) or fail closed
(503); back up: the limits apply again."""

import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import helpers
from helpers import HOST, SockReader, build_request, connect, free_port, http_request, \
    read_response, route, wait_until

pytestmark = [pytest.mark.deadline(40),
              pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="redis-server is not installed")]

FRONT = "front.test"


def redis_command(port, *args, timeout=2.0):
    """One RESP command; returns the reply's first line (b"+PONG", b":3" ...)."""
    out = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() if isinstance(x, str) else x for x in args))
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(out)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        while data.startswith(b"*") and data.count(b"\r\n") < 1 + 2 * int(data[1:data.index(b"\r\n")] or 0):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


class Redis:
    """A redis-server on its own port, without persistence."""

    def __init__(self, workdir, bind=(HOST,), extra=()):
        self.port = free_port()
        self.bind = bind
        self.extra = list(extra)
        self.workdir = workdir
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", *self.bind, "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            preexec_fn=helpers._die_with_parent)

        def ready():
            try:
                return redis_command(self.port, "PING")[:1] in (b"+", b"-")   # (-NOAUTH: up too)
            except OSError:
                return False
        assert wait_until(ready, 10), "redis-server did not start"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def keys(self, pattern="gatehouse:rl:*"):
        return redis_command(self.port, "KEYS", pattern)


@pytest.fixture
def redis(tmp_path):
    started = []

    def start(**kw):
        r = Redis(tmp_path, **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.kill()


def get(gh, path="/small", headers=None):
    return http_request(gh.port, "GET", path, headers=headers, host=FRONT)


def statuses(gh, n, path="/small", headers=None):
    return [get(gh, path, headers).status for _ in range(n)]


def config(o, redis_port, rl, path="/", extra_routes=(), admin_port=None, timeout=None):
    rl = dict(rl, store="redis")
    cfg = {"server": {"reverse_proxy": [route(o, path, rate_limit=rl)] + [route(o, p) for p in extra_routes]},
           "redis": {"address": f"{HOST}:{redis_port}"}}
    if timeout:
        cfg["redis"]["timeout"] = timeout
    if admin_port:
        cfg["admin"] = {"enabled": True, "host": HOST, "port": admin_port}
    return cfg


def store_errors(gh, admin_port):
    with connect(admin_port) as s:
        s.sendall(build_request("GET", "/status", host=f"{HOST}:{admin_port}"))
        r = read_response(SockReader(s), "GET")
    assert r.status == 200, r
    return r.json()["rate_limit"]["store_errors"]


def test_burst_then_429_with_the_same_fields_as_local(gatehouse, origin, redis):
    rd = redis()
    gh = gatehouse(config(origin(), rd.port, {"rate": "1/m", "burst": 3}))
    assert statuses(gh, 3) == [200, 200, 200]
    r = get(gh)
    assert r.status == 429, r
    retry = int(r.header("retry-after"))
    assert 1 <= retry <= 60, r.headers
    assert r.header("ratelimit-policy") == '"gatehouse";q=1;w=60', r.headers
    m = re.fullmatch(r'"gatehouse";r=0;t=(\d+)', r.header("ratelimit") or "")
    assert m and int(m.group(1)) == retry, r.headers
    ps = r.header("proxy-status") or ""
    assert "error=http_request_denied" in ps and "rate_limit" in ps, ps
    assert b"gatehouse:rl:" in rd.keys(), rd.keys()      # the bucket is in Redis, with a TTL
    assert wait_until(lambda: any(x["status"] == 429 and x["policy"] == "rate_limit"
                                  for x in gh.access_log()), 5), gh.access_log()


def test_the_rate_refills_the_bucket(gatehouse, origin, redis):
    rd = redis()
    gh = gatehouse(config(origin(), rd.port, {"rate": "5/s", "burst": 1}))
    assert statuses(gh, 2) == [200, 429]
    time.sleep(0.25)
    assert statuses(gh, 2) == [200, 429]


def test_two_gatehouses_share_one_limit(gatehouse, origin, redis):
    rd = redis()
    o = origin()
    a = gatehouse(config(o, rd.port, {"rate": "5/m", "burst": 5}))
    b = gatehouse(config(o, rd.port, {"rate": "5/m", "burst": 5}))
    got = []
    for _ in range(6):
        got += [get(a).status, get(b).status]
    assert got.count(200) == 5 and got[:5] == [200] * 5, got
    assert set(got[5:]) == {429}, got


def test_exact_count_over_many_connections(gatehouse, origin, redis):
    rd = redis()
    gh = gatehouse(config(origin(), rd.port, {"rate": "1/h", "burst": 20}))
    got = statuses(gh, 30)
    assert got[:20] == [200] * 20 and got[20:] == [429] * 10, got


def test_keys_by_header_are_apart(gatehouse, origin, redis):
    rd = redis()
    gh = gatehouse(config(origin(), rd.port, {"rate": "1/h", "burst": 2, "key": "header:X-Api-Key"}))
    assert statuses(gh, 3, headers={"X-Api-Key": "alice"}) == [200, 200, 429]
    assert statuses(gh, 3, headers={"X-Api-Key": "bob"}) == [200, 200, 429]
    assert statuses(gh, 3) == [200, 200, 429]
    long_key = "k" * 300                                  # stored under a digest
    assert statuses(gh, 3, headers={"X-Api-Key": long_key}) == [200, 200, 429]


def test_key_route_is_one_bucket_and_routes_do_not_share(gatehouse, origin, redis):
    rd = redis()
    o = origin()
    rl = {"rate": "1/h", "burst": 2, "key": "route", "store": "redis"}
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/a", rate_limit=rl), route(o, "/b", rate_limit=rl)]},
                    "redis": {"address": f"{HOST}:{rd.port}"}})
    assert statuses(gh, 2, "/a/small") == [200, 200]
    assert get(gh, "/a/small", headers={"X-Forwarded-For": "10.9.9.9"}).status == 429
    assert statuses(gh, 3, "/b/small") == [200, 200, 429]   # same limit, its own bucket


def test_http2_streams_count_against_the_same_bucket(gatehouse, origin, redis):
    from test_http2 import H2Client
    rd = redis()
    gh = gatehouse(config(origin(), rd.port, {"rate": "1/h", "burst": 4}))
    assert statuses(gh, 2) == [200, 200]
    with H2Client(gh.port) as c:
        got = [c.request("GET", "/small").status for _ in range(4)]
    assert got == [200, 200, 429, 429], got


def test_redis_down_fails_open_and_limits_return_with_it(gatehouse, origin, redis):
    rd = redis()
    admin_port = free_port()
    gh = gatehouse(config(origin(), rd.port, {"rate": "1/h", "burst": 1}, admin_port=admin_port))
    assert statuses(gh, 2) == [200, 429]
    assert store_errors(gh, admin_port) == 0
    rd.kill()
    assert statuses(gh, 5) == [200] * 5                   # fail open
    assert wait_until(lambda: f"Redis at {HOST}:{rd.port}" in gh.stderr(), 5), gh.stderr()[-2000:]
    assert "failing open" in gh.stderr()
    assert store_errors(gh, admin_port) >= 5
    # One warning line for the burst of failures, not one per request.
    assert gh.stderr().count(f"Redis at {HOST}:{rd.port}") == 1, gh.stderr()[-2000:]
    rd.start()                                            # same port, empty
    # Reconnected (after the back-off): the bucket fills and refuses again.
    assert wait_until(lambda: get(gh).status == 429, 10, interval=0.1), gh.stderr()[-2000:]


def test_fail_closed_answers_503(gatehouse, origin, redis):
    rd = redis()
    gh = gatehouse(config(origin(), rd.port, {"rate": "1/h", "burst": 5, "fail": "closed"}))
    assert get(gh).status == 200
    rd.kill()
    r = get(gh)
    assert r.status == 503, r
    ps = r.header("proxy-status") or ""
    assert "error=http_request_denied" in ps and "rate_limit: store unavailable" in ps, ps
    rd.start()
    assert wait_until(lambda: get(gh).status == 200, 10, interval=0.1)


def test_a_redis_that_never_answers_fails_after_the_timeout(gatehouse, origin, redis):
    """A listener that accepts and stays silent: each decision waits the
    timeout, then fails open."""
    silent = socket.socket()
    silent.bind((HOST, 0))
    silent.listen(16)
    try:
        gh = gatehouse(config(origin(), silent.getsockname()[1], {"rate": "1/h", "burst": 1},
                              timeout="200ms"))
        t0 = time.monotonic()
        assert get(gh).status == 200
        took = time.monotonic() - t0
        assert 0.15 <= took < 2.0, took
        assert wait_until(lambda: "no answer within 200 ms" in gh.stderr(), 5), gh.stderr()[-2000:]
    finally:
        silent.close()


def test_reload_picks_up_a_new_address(gatehouse, origin, redis):
    r1, r2 = redis(), redis()
    o = origin()
    gh = gatehouse(config(o, r1.port, {"rate": "1/h", "burst": 1}))
    assert statuses(gh, 2) == [200, 429]
    cfg = config(o, r2.port, {"rate": "1/h", "burst": 1})
    cfg["server"]["host"], cfg["server"]["port"] = HOST, gh.port
    before = gh.stderr().count("configuration reloaded")
    gh.config_path.write_text(helpers.to_yaml(cfg) + "\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: gh.stderr().count("configuration reloaded") > before, 5), gh.stderr()
    assert statuses(gh, 2) == [200, 429]                  # a fresh bucket in the other Redis
    assert b"gatehouse:rl:" in r2.keys()


def test_store_redis_without_a_redis_section_is_refused(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("server:\n  reverse_proxy:\n    - path: /\n      backends: [127.0.0.1:9]\n"
                    "      rate_limit: {rate: 10/s, store: redis}\n")
    p = helpers.run_gatehouse("check", "-c", str(path))
    assert p.returncode == 1, p
    assert re.search(r"g\.yaml:5:\d+: .*'store: redis' needs a top-level 'redis' section", p.stderr), p.stderr


def test_a_dns_name_is_resolved_without_failing_the_first_requests(gatehouse, origin, redis):
    rd = redis(bind=(HOST, "-::1"))                      # ("-": if the host has IPv6)
    cfg = config(origin(), rd.port, {"rate": "1/h", "burst": 2, "fail": "closed"})
    cfg["redis"]["address"] = f"localhost:{rd.port}"
    gh = gatehouse(cfg)
    assert statuses(gh, 3) == [200, 200, 429]           # the first ones waited for the name
    assert "Redis at" not in gh.stderr(), gh.stderr()[-2000:]


def test_password_and_db(gatehouse, origin, redis, tmp_path):
    rd = redis(extra=["--requirepass", "s3cret"])
    (tmp_path / "redis-pass").write_text("s3cret\n")
    (tmp_path / "wrong-pass").write_text("nope\n")
    o = origin()
    cfg = config(o, rd.port, {"rate": "1/h", "burst": 1})
    cfg["redis"].update({"password_file": str(tmp_path / "redis-pass"), "db": 2})
    gh = gatehouse(cfg)
    assert statuses(gh, 2) == [200, 429]
    with socket.create_connection((HOST, rd.port), timeout=2) as s:   # the key is in db 2
        s.sendall(b"AUTH s3cret\r\nSELECT 2\r\nDBSIZE\r\n")
        data = b""
        while data.count(b"\r\n") < 3:
            data += s.recv(4096)
        assert data.endswith(b":1\r\n"), data
    cfg["redis"]["password_file"] = str(tmp_path / "wrong-pass")
    bad = gatehouse(cfg)
    assert statuses(bad, 3) == [200, 200, 200]            # refused AUTH: fail open
    assert wait_until(lambda: "Redis refused AUTH" in bad.stderr(), 5), bad.stderr()[-2000:]
    assert "nope" not in bad.stderr() and "s3cret" not in bad.stderr()


def test_a_huge_burst_over_an_hour(gatehouse, origin, redis):
    """Keys that expire in about 114 years: the script's numbers stay exact."""
    rd = redis()
    gh = gatehouse(config(origin(), rd.port, {"rate": "1/h", "burst": 1000000}))
    assert statuses(gh, 3) == [200] * 3
    assert "Redis at" not in gh.stderr(), gh.stderr()[-2000:]
    ttl = redis_command(rd.port, "EVAL", "local k = redis.call('KEYS', 'gatehouse:rl:*') "
                        "return redis.call('PTTL', k[1])", "0")
    assert ttl.startswith(b":") and int(ttl[1:]) > 3 * 3600 * 1000 - 60000, ttl
