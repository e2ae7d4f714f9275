"""Load balancing, health checks and failover (issue 5), end to end.

Real demo origins behind one route with `backends:`; requests spread as the
route's `balance` says and the chosen backend is in the access log; a backend
SIGKILLed under a steady stream of idempotent GETs costs no client request,
is marked down by the active checks within interval x unhealthy, and comes
back after `healthy` passes when restarted on its port; no usable backend
gives 503 destination_unavailable; backups serve only while every primary is
down; passive ejection works without active checks; a POST that reached a
backend is never replayed on another one, a GET is.

Run with -s to see the failed-request count of the kill/restart test.
"""

import calendar
import re
import threading
import time
from collections import Counter

import pytest

import helpers
from helpers import HOST, wait_until
from lb_helpers import (HEALTH_FAST, KeepAliveClient, LoadStream, counts_by_instance,
                        down_re, instance_of, kill_origin, lb_config, lb_route,
                        proxy_status_params, restart_origin, spread, up_re, wait_log)


@pytest.fixture
def respawned():
    """Origins restarted by a test (not made by the origin fixture); stopped at teardown."""
    started = []
    yield started
    for o in started:
        o.stop()


def three(origin, prefix):
    return [origin(f"{prefix}{i}") for i in range(3)]


def by_name(origins):
    return {o.name: o for o in origins}


def assert_close(counts, expected, tolerance, total):
    for name, want in expected.items():
        got = counts.get(name, 0)
        assert abs(got - want) <= tolerance, \
            f"{name}: {got} of {total} requests, expected {want} +/- {tolerance}: {dict(counts)}"


LOG_TS_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ", re.M)


def log_time(text, pos):
    """Wall-clock time (epoch seconds) of the log line containing text[pos]."""
    start = text.rfind("\n", 0, pos) + 1
    m = LOG_TS_RE.match(text, start)
    assert m, f"log line without a timestamp: {text[start:start + 200]!r}"
    y, mo, d, h, mi, s, ms = (int(g) for g in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s)) + ms / 1000.0


def refused_lines(text, address):
    """Positions of passive failure warnings (real traffic) for a backend."""
    rx = re.compile(rf"warn: backend {re.escape(address)}: (connection_\w+)")
    return [m.start() for m in rx.finditer(text)]


def fetch(gh, target="/x"):
    """One GET on a new connection; a connection closed without any answer
    fails the test with what became of the proxy process."""
    try:
        return helpers.http_request(gh.port, "GET", target)
    except (EOFError, ConnectionResetError) as e:
        code = gh.proc.poll()
        state = "still running" if code is None else \
            (f"killed by signal {-code}" if code < 0 else f"exited with {code}")
        raise AssertionError(f"GET {target}: connection closed without a response ({e}); "
                             f"gatehouse {state}") from None


def assert_unavailable(resp):
    name, params = proxy_status_params(resp)
    assert resp.status == 503 and name == "gatehouse" \
        and params.get("error") == "destination_unavailable", \
        f"wanted 503 destination_unavailable, got {resp.status} " \
        f"{resp.header('proxy-status')!r} {resp.body[:200]!r}"


def assert_proxy_error(resp, status, error):
    name, params = proxy_status_params(resp)
    assert resp.status == status and name == "gatehouse" and params.get("error") == error, \
        f"wanted {status} {error}, got {resp.status} {resp.header('proxy-status')!r} " \
        f"{resp.body[:200]!r}"


# --------------------------------------------------------------------------
# Spreading requests


def test_round_robin_equal_and_backend_in_access_log(gatehouse, origin):
    origins = three(origin, "rr")
    gh = gatehouse(lb_config(lb_route(origins, balance="round_robin")))
    n = 300
    results = spread(gh.port, n, clients=3)
    assert all(r.status == 200 for _, r in results), \
        [r for _, r in results if r.status != 200][:3]
    counts = counts_by_instance(results)
    assert set(counts) == {o.name for o in origins}, counts
    assert_close(counts, {o.name: n // 3 for o in origins}, 0.03 * n, n)

    # The access log names the backend that answered each request.
    names = by_name(origins)
    assert wait_until(lambda: len(gh.access_log()) >= n, 5.0), len(gh.access_log())
    logged = {rec.get("request_id"): rec for rec in gh.access_log()}
    for rid, resp in results:
        rec = logged.get(rid)
        assert rec is not None, f"request {rid} not in the access log"
        assert rec.get("backend") == names[instance_of(resp)].address, \
            f"access log backend {rec.get('backend')!r} but {instance_of(resp)} " \
            f"({names[instance_of(resp)].address}) answered: {rec}"
        assert rec.get("status") == 200


def test_round_robin_weighted_3_1_1(gatehouse, origin):
    heavy, l1, l2 = three(origin, "w")
    route = lb_route([(heavy, {"weight": 3}), l1, l2], balance="round_robin")
    gh = gatehouse(lb_config(route))
    n = 500
    results = spread(gh.port, n, clients=2)
    assert all(r.status == 200 for _, r in results)
    counts = counts_by_instance(results)
    assert_close(counts, {heavy.name: 300, l1.name: 100, l2.name: 100}, 0.03 * n, n)


def test_least_conn_sends_new_requests_away_from_busy_backends(gatehouse, origin):
    origins = three(origin, "lc")
    gh = gatehouse(lb_config(lb_route(origins, balance="least_conn")))
    # Warm up: all three answer.
    warm = counts_by_instance(spread(gh.port, 6))
    assert set(warm) == {o.name for o in origins}, warm

    slow = {}

    def sleeper(key, ms):
        c = KeepAliveClient(gh.port, timeout=10.0)
        try:
            slow[key] = c.get(f"/sleep/{ms}")
        finally:
            c.close()

    t1 = threading.Thread(target=sleeper, args=("a", 2500), daemon=True)
    t1.start()
    time.sleep(0.4)   # the first slow request is in flight on its backend
    t2 = threading.Thread(target=sleeper, args=("b", 2500), daemon=True)
    t2.start()
    time.sleep(0.4)   # and the second on another one
    quick = spread(gh.port, 30, path="/quick")
    t1.join(10)
    t2.join(10)
    assert "a" in slow and "b" in slow, "slow requests did not finish"
    assert slow["a"].status == 200 and slow["b"].status == 200
    busy = {instance_of(slow["a"]), instance_of(slow["b"])}
    assert len(busy) == 2, f"both slow requests went to {busy}: least_conn ignored the busy one"
    idle = {o.name for o in origins} - busy
    counts = counts_by_instance(quick)
    assert all(r.status == 200 for _, r in quick)
    assert set(counts) == idle, \
        f"quick requests while {sorted(busy)} were busy went to {dict(counts)}, want only {idle}"


def test_ip_hash_is_sticky_per_client_address(gatehouse, origin):
    origins = three(origin, "ih")
    gh = gatehouse(lb_config(lb_route(origins, balance="ip_hash")))

    def one(source_ip):
        # A new connection each time: may land on any worker, must land on the same backend.
        c = KeepAliveClient(gh.port, source_ip=source_ip)
        try:
            r = c.get("/who")
        finally:
            c.close()
        assert r.status == 200, r
        return instance_of(r)

    seen = Counter(one("127.0.0.1") for _ in range(40))
    assert len(seen) == 1, f"requests from 127.0.0.1 spread over {dict(seen)}"

    # Other loopback addresses: each sticks to one backend; together they use several.
    per_ip = {}
    for k in range(2, 42):
        ip = f"127.0.0.{k}"
        got = {one(ip) for _ in range(3)}
        assert len(got) == 1, f"{ip} went to {got}"
        per_ip[ip] = got.pop()
    used = Counter(per_ip.values())
    assert len(used) >= 2, f"40 client addresses all hashed to {dict(used)}"
    # The access log records the client address the hash used.
    assert wait_until(lambda: any(rec.get("client", "").startswith("127.0.0.41")
                                  for rec in gh.access_log()), 3.0)


def test_random_spreads_over_all_backends(gatehouse, origin):
    origins = three(origin, "rn")
    gh = gatehouse(lb_config(lb_route(origins, balance="random")))
    n = 300
    results = spread(gh.port, n, clients=2)
    assert all(r.status == 200 for _, r in results)
    counts = counts_by_instance(results)
    for o in origins:
        # Expected 100 each; 60 is about five standard deviations below.
        assert counts.get(o.name, 0) >= 60, f"random spread: {dict(counts)}"


# --------------------------------------------------------------------------
# Failover under load with active health checks


@pytest.mark.deadline(40)
def test_kill_and_restart_backend_under_load_no_failed_requests(gatehouse, origin, respawned):
    origins = three(origin, "k")
    hc = HEALTH_FAST
    gh = gatehouse(lb_config(lb_route(origins, balance="round_robin", retries=2,
                                      health_check=hc)))
    victim = origins[1]
    interval = 0.2
    load = LoadStream(gh.port, threads=4)
    results = []
    try:
        time.sleep(1.0)
        before = Counter(r.instance for r in load.snapshot() if r.ok)
        assert before.get(victim.name, 0) > 0, f"victim got no traffic before the kill: {before}"

        wall_kill = time.time()
        t_kill = time.monotonic()
        kill_origin(victim)
        m_down = wait_log(gh, down_re(victim.address), timeout=5.0)
        seen_down = time.monotonic() - t_kill
        assert m_down, f"no DOWN line for {victim.address} within 5 s:\n{gh.stderr()[-3000:]}"
        logs = gh.stderr()
        down_pos = logs.find(m_down.group(0))
        down_after = log_time(logs, down_pos) - wall_kill
        limit = interval * hc["unhealthy"] + 0.6
        assert down_after <= limit, \
            f"marked down {down_after:.3f}s after the kill (seen after {seen_down:.3f}s), " \
            f"limit interval x unhealthy + slack = {limit:.1f}s: {m_down.group(0)}"

        time.sleep(1.0)   # serving on the two survivors

        wall_restart = time.time()
        t_restart = time.monotonic()
        reborn = restart_origin(victim.name, victim.port)
        respawned.append(reborn)
        m_up = wait_log(gh, up_re(victim.address), timeout=5.0)
        assert m_up, f"no UP line for {victim.address} within 5 s of the restart:\n" \
                     f"{gh.stderr()[-3000:]}"
        logs = gh.stderr()
        up_after = log_time(logs, logs.find(m_up.group(0))) - wall_restart
        up_limit = interval * hc["healthy"] + 0.2 * 2 + 0.6  # + a probe timeout or two
        assert up_after <= up_limit, f"marked up {up_after:.3f}s after the restart: {m_up.group(0)}"

        # While it was down, real traffic did not try it (no connect failures
        # logged between the DOWN line and the restart).
        down_ts = log_time(logs, down_pos)
        stray = [p for p in refused_lines(logs, victim.address)
                 if down_ts + 0.05 < log_time(logs, p) < wall_restart]
        assert not stray, "requests were sent to a backend marked down:\n" + \
            "\n".join(logs[p:logs.find("\n", p)] for p in stray[:5])

        back = wait_until(lambda: any(r.ok and r.instance == victim.name and r.t > t_restart
                                      for r in load.snapshot()), 3.0)
        assert back, "the restarted backend got no requests after it was marked up"
        time.sleep(1.0)
    finally:
        results = load.stop()

    failed = [r for r in results if not r.ok]
    after_up = Counter(r.instance for r in results if r.ok and r.t > t_restart + up_after + 0.2)
    print(f"\nkill/restart under load: {len(results)} requests, {len(failed)} failed; "
          f"down after {down_after:.3f}s, up after {up_after:.3f}s; "
          f"served after the return: {dict(after_up)}")
    for r in failed[:10]:
        print(f"  failed at +{r.t - t_kill:.3f}s: {r.detail}")
    assert len(results) > 500, f"only {len(results)} requests in the stream"
    assert not failed, f"{len(failed)} of {len(results)} client requests failed; first: " \
                       f"{[(round(r.t - t_kill, 3), r.detail) for r in failed[:5]]}"
    assert after_up.get(victim.name, 0) > 0, f"back in rotation? {dict(after_up)}"


def test_all_backends_down_503_destination_unavailable(gatehouse, origin):
    origins = three(origin, "ad")
    gh = gatehouse(lb_config(lb_route(origins, retries=2, health_check=HEALTH_FAST)))
    assert set(counts_by_instance(spread(gh.port, 6))) == {o.name for o in origins}
    for o in origins:
        kill_origin(o)
    for o in origins:
        assert wait_log(gh, down_re(o.address), timeout=5.0), \
            f"{o.address} not marked down:\n{gh.stderr()[-3000:]}"
    for _ in range(5):
        r = fetch(gh)
        assert_unavailable(r)
    assert wait_until(lambda: sum(1 for rec in gh.access_log() if rec.get("status") == 503) >= 5,
                      3.0)
    recs = [rec for rec in gh.access_log() if rec.get("status") == 503]
    assert all("destination_unavailable" in str(rec.get("proxy_status")) for rec in recs), recs


def test_all_backends_down_passive_only_502_then_503(gatehouse, origin):
    """Without active checks nothing is known to be down until connecting
    fails: the first request tries every backend (retries: 2) and gets the
    last connect failure; the back-off then leaves no usable backend."""
    origins = three(origin, "pd")
    gh = gatehouse(lb_config(lb_route(origins, retries=2)))
    c = KeepAliveClient(gh.port)
    assert {instance_of(c.get(f"/w/{i}")) for i in range(3)} == {o.name for o in origins}
    c.close()
    for o in origins:
        kill_origin(o)
    first = fetch(gh)
    assert_proxy_error(first, 502, "connection_refused")
    logs = gh.stderr()
    for o in origins:
        assert refused_lines(logs, o.address), f"{o.address} was not tried:\n{logs[-3000:]}"
    # Within the 1 s back-off every backend is ejected.
    second = fetch(gh)
    assert_unavailable(second)


def test_single_backend_is_never_ejected(gatehouse, origin):
    o = origin("single")
    gh = gatehouse(lb_config(lb_route([o], retries=2)))
    assert helpers.http_request(gh.port, "GET", "/x").status == 200
    kill_origin(o)
    for _ in range(4):
        r = helpers.http_request(gh.port, "GET", "/x")
        assert_proxy_error(r, 502, "connection_refused")


# --------------------------------------------------------------------------
# Backups


@pytest.mark.deadline(40)
def test_backup_only_when_primaries_down(gatehouse, origin, respawned):
    p1, p2, bk = origin("p1"), origin("p2"), origin("bk")
    route = lb_route([p1, p2, (bk, {"backup": True})], retries=2, health_check=HEALTH_FAST)
    gh = gatehouse(lb_config(route))

    counts = counts_by_instance(spread(gh.port, 60, clients=2))
    assert counts.get("bk", 0) == 0, f"backup served while primaries were up: {dict(counts)}"
    assert counts.get("p1", 0) >= 25 and counts.get("p2", 0) >= 25, dict(counts)

    kill_origin(p1)
    kill_origin(p2)
    # Before the checks notice: connect failures fail over, in the end to the backup.
    early = spread(gh.port, 10)
    assert [r.status for _, r in early] == [200] * 10, [r for _, r in early if r.status != 200]
    assert counts_by_instance(early) == Counter({"bk": 10})
    for o in (p1, p2):
        assert wait_log(gh, down_re(o.address), timeout=5.0), gh.stderr()[-3000:]
    late = spread(gh.port, 30, clients=2)
    assert all(r.status == 200 for _, r in late)
    assert counts_by_instance(late) == Counter({"bk": 30})

    # One primary back: the backup is idle again.
    respawned.append(restart_origin("p1", p1.port))
    assert wait_log(gh, up_re(p1.address), timeout=5.0), gh.stderr()[-3000:]
    again = spread(gh.port, 30, clients=2)
    assert all(r.status == 200 for _, r in again)
    assert counts_by_instance(again) == Counter({"p1": 30})


# --------------------------------------------------------------------------
# Passive ejection and retries without active checks


@pytest.mark.deadline(30)
def test_passive_ejection_without_health_checks(gatehouse, origin):
    a, b = origin("pa"), origin("pb")
    gh = gatehouse(lb_config(lb_route([a, b], retries=1)))
    load = LoadStream(gh.port, threads=2)
    try:
        time.sleep(0.7)
        before = Counter(r.instance for r in load.snapshot() if r.ok)
        assert before.get("pb", 0) > 0 and before.get("pa", 0) > 0, before
        t_kill = time.monotonic()
        kill_origin(b)
        time.sleep(3.0)
    finally:
        results = load.stop()
    failed = [r for r in results if not r.ok]
    after = [r for r in results if r.t > t_kill]
    print(f"\npassive ejection: {len(results)} requests, {len(failed)} failed, "
          f"{len(after)} after the kill")
    assert not failed, f"{len(failed)} client requests failed: " \
                       f"{[(round(r.t - t_kill, 3), r.detail) for r in failed[:5]]}"
    assert len(after) >= 100, len(after)
    # Back-off 1 s, 2 s, ...: in 3 s the dead backend is tried a handful of
    # times, not for every other request.
    tries = refused_lines(gh.stderr(), b.address)
    assert 1 <= len(tries) <= 10, \
        f"dead backend tried {len(tries)} times during {len(after)} requests:\n{gh.stderr()[-2000:]}"


def test_post_not_retried_after_send_but_get_is(gatehouse, capture_backend):
    """A backend that reads the request and closes without answering: the
    POST (sent, not idempotent) gets 502 and no other backend sees it; a GET
    in the same situation is replayed on the other backend and succeeds."""
    # POST
    dead = capture_backend(mode="close")
    good = capture_backend()
    gh = gatehouse(lb_config(lb_route([dead, good], retries=1)))
    hit = False
    for i in range(10):
        target = f"/post/{i}"
        body = f"payload-{i}".encode()
        r = helpers.http_request(gh.port, "POST", target, body=body)
        dead_saw = [q for q in dead.requests if q.target == target]
        good_saw = [q for q in good.requests if q.target == target]
        if not dead_saw:
            assert r.status == 200 and len(good_saw) == 1, r
            continue
        assert_proxy_error(r, 502, "connection_terminated")
        time.sleep(0.3)
        good_saw = [q for q in good.requests if q.target == target]
        assert len(dead_saw) == 1 and not good_saw, \
            f"POST seen by the closing backend {len(dead_saw)}x and replayed on the other " \
            f"{len(good_saw)}x"
        hit = True
        break
    assert hit, "no POST reached the closing backend"

    # GET, on a fresh proxy (the POST's failure ejected the closing backend)
    dead2 = capture_backend(mode="close")
    good2 = capture_backend()
    gh2 = gatehouse(lb_config(lb_route([dead2, good2], retries=1)))
    hit = False
    for i in range(10):
        target = f"/get/{i}"
        r = helpers.http_request(gh2.port, "GET", target)
        dead_saw = [q for q in dead2.requests if q.target == target]
        good_saw = [q for q in good2.requests if q.target == target]
        assert r.status == 200 and r.body == b"captured", r
        assert len(good_saw) == 1, f"GET {target} reached the answering backend {len(good_saw)}x"
        if dead_saw:
            assert len(dead_saw) == 1
            hit = True
            break
    assert hit, "no GET reached the closing backend"
    # The access log names the backend that answered.
    assert wait_until(lambda: any(rec.get("path") == target for rec in gh2.access_log()), 3.0)
    rec = [rec for rec in gh2.access_log() if rec.get("path") == target][-1]
    assert rec.get("backend") == good2.address, rec


def test_failed_connect_is_retried_for_any_method(gatehouse, capture_backend):
    """Nothing was sent when connecting fails, so even a POST moves on."""
    good = capture_backend()
    dead_port = helpers.free_port()
    gh = gatehouse(lb_config(lb_route([dead_port, good], retries=1)))
    c = KeepAliveClient(gh.port)
    try:
        for i in range(4):
            r = c.request("POST", f"/p/{i}", body=f"body-{i}".encode())
            assert r.status == 200 and r.body == b"captured", r
    finally:
        c.close()
    assert [q.body for q in good.requests] == [f"body-{i}".encode() for i in range(4)]
    assert refused_lines(gh.stderr(), f"{HOST}:{dead_port}"), \
        f"the dead backend was never tried:\n{gh.stderr()[-2000:]}"
