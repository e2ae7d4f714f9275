"""The admin dashboard (GET / on the admin listener) in headless Chromium, and
the admin token (admin.token_file): CONTRACT "Admin and operations".

The page polls /status and /metrics; these tests drive real load through the
proxy and watch the page's numbers move, stop a backend and watch it go down,
and walk the token prompt. Skipped only when chromium, chromedriver or
python3-selenium are missing. GATEHOUSE_DASHBOARD_SCREENSHOT=PATH saves a
screenshot of the page under load with one backend down.
"""

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from helpers import HOST, free_port, http_request, route, wait_until
from lb_helpers import HEALTH_FAST, lb_route

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    HAVE_SELENIUM = True
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_SELENIUM = False

needs_browser = pytest.mark.skipif(
    not (HAVE_SELENIUM and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="needs chromium, chromium-driver and python3-selenium (scripts/deps.sh)")

DASH = "\u2014"
REFRESH = 0.5   # seconds, through ?refresh=
SLOW = 3.0 if os.environ.get("GATEHOUSE_SANITIZED") else 1.0  # time bounds stretch under the sanitizers


@pytest.fixture
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chromium'}",
              "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(15)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


def poll(what, fn, timeout):
    """fn() until it returns something truthy; fails with `what` after timeout s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


ROUTES_JS = """
return [...document.querySelectorAll('#routes tr.route')].map(tr => {
  const c = {};
  for (const td of tr.children) c[td.className.split(' ')[0]] = td.textContent;
  c.cells = [...tr.children].map(td => td.textContent);
  c.route = tr.dataset.route;
  return c;
});
"""
BACKENDS_JS = """
return [...document.querySelectorAll('#backends tr.backend')].map(tr => ({
  route: tr.dataset.route, backend: tr.dataset.backend, state: tr.dataset.state,
  badge: tr.querySelector('.state').textContent,
  requests: tr.querySelector('.requests').textContent,
  rate: tr.querySelector('.rate').textContent}));
"""


def routes_of(driver):
    return {r["route"]: r for r in driver.execute_script(ROUTES_JS)}


def backends_of(driver):
    return {(b["route"], b["backend"]): b for b in driver.execute_script(BACKENDS_JS)}


def updates(driver):
    return int(driver.execute_script("return document.body.dataset.updates || '0'"))


def number(text):
    """A shown number ("1,234", "12.5") or None for the dash."""
    text = text.strip().replace(",", "")
    if text in ("", DASH):
        return None
    return float(text.split()[0])


class Load:
    """Requests in a loop from a thread until stopped: the traffic the page
    must see. Counts what it sent."""

    def __init__(self, port, paths):
        self.port, self.paths = port, paths
        self.sent = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stop_flag.is_set():
            try:
                http_request(self.port, target=self.paths[i % len(self.paths)], timeout=3.0)
            except OSError:
                pass
            self.sent += 1
            i += 1
            time.sleep(0.005)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(5)


def admin_config(routes, admin_port, **admin):
    a = {"enabled": True, "host": HOST, "port": admin_port}
    a.update(admin)
    return {"server": {"reverse_proxy": routes}, "admin": a}


def metrics_served(admin_port, headers=None):
    return http_request(admin_port, target="/metrics", headers=headers,
                        host=f"{HOST}:{admin_port}").status == 200


@needs_browser
@pytest.mark.deadline(90)
def test_dashboard_shows_routes_backends_live_numbers_and_a_backend_going_down(
        gatehouse, origin, browser):
    a, b, c = origin("a"), origin("b"), origin("c")
    admin_port = free_port()
    routes = [
        lb_route([a, b], path="/", health_check=HEALTH_FAST),
        dict(lb_route([c], path="/api", health_check=HEALTH_FAST, balance="least_conn"),
             domains=["api.example.test", "*.api.example.test"]),
    ]
    gh = gatehouse(admin_config(routes, admin_port))

    # The page's own fields, seen without a browser.
    page = http_request(admin_port, target="/", host=f"{HOST}:{admin_port}")
    assert page.status == 200
    assert page.header("content-type") == "text/html; charset=utf-8"
    csp = page.header("content-security-policy")
    assert csp.startswith("default-src 'self'") and "script-src 'sha256-" in csp, csp
    assert "unsafe-inline" not in csp
    assert page.header("x-content-type-options") == "nosniff"
    assert page.header("cache-control") == "no-store"

    browser.get(f"http://{HOST}:{admin_port}/?refresh={REFRESH}")
    poll("page shows data", lambda: browser.execute_script(
        "return document.body.dataset.mode") == "data" and updates(browser) >= 2, 10)
    assert "every 0.5 s" in browser.find_element(By.ID, "refresh-info").text

    rows = routes_of(browser)
    assert set(rows) == {"/", "/api"}, rows
    assert rows["/"]["cells"][1] == "any" and rows["/"]["cells"][2] == "round_robin"
    assert rows["/api"]["cells"][1] == "api.example.test, *.api.example.test"
    assert rows["/api"]["cells"][2] == "least_conn"
    be = poll("three backends up", lambda: (lambda m: m if len(m) == 3 and all(
        x["state"] == "up" for x in m.values()) else None)(backends_of(browser)), 10)
    assert set(be) == {("/", a.address), ("/", b.address), ("/api", c.address)}
    assert be[("/", a.address)]["badge"] == "up"
    before = number(rows["/"]["requests"]) or 0

    load = Load(gh.port, ["/", "/x"])
    try:
        # Numbers move under load: the route's rate, its request count and
        # each backend's rate.
        def busy():
            r = routes_of(browser).get("/")
            rate, reqs = number(r["rate"]), number(r["requests"])
            return r if rate and rate > 0 and reqs and reqs > before else None
        r = poll("'/' shows a request rate under load", busy, 10)
        first = number(r["requests"])
        poll("request count keeps growing",
             lambda: number(routes_of(browser)["/"]["requests"]) > first, 5)
        poll("both backends of '/' show a rate", lambda: all(
            (number(backends_of(browser)[("/", o.address)]["rate"]) or 0) > 0 for o in (a, b)), 5)
        # The idle route stays at zero.
        assert number(routes_of(browser)["/api"]["rate"]) in (0.0, None)
        if metrics_served(admin_port):
            # With /metrics: latency from the histogram, per route.
            poll("p50 and p95 shown", lambda: all(
                routes_of(browser)["/"][k] not in ("", DASH) for k in ("p50", "p95", "mean")), 5)
            # Families with no series yet (nothing happened) count 0, not "absent".
            assert routes_of(browser)["/api"]["proxy-errors"] == "0.0"
        # A backend that stops shows down within one refresh plus what the
        # health check needs to call it (2 failed checks 200 ms apart, each
        # up to 200 ms), with margin for a loaded machine.
        b.stop()
        t0 = time.monotonic()
        poll("b shows down", lambda: backends_of(browser)[("/", b.address)]["state"] == "down",
             (REFRESH + 2 * (0.2 + 0.2)) * SLOW + 2.0)
        took = time.monotonic() - t0
        row = backends_of(browser)[("/", b.address)]
        assert row["badge"] == "down"
        assert backends_of(browser)[("/", a.address)]["state"] == "up"
        assert "1 / 2 up" in routes_of(browser)["/"]["cells"][-1]
        print(f"backend down shown after {took:.2f}s")
        shot = os.environ.get("GATEHOUSE_DASHBOARD_SCREENSHOT")
        if shot:
            time.sleep(REFRESH * 3)   # a few more refreshes under load
            Path(shot).parent.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(shot)
    finally:
        load.stop()

    # No script errors (a CSP refusal would be one); failed fetches ("network",
    # e.g. /metrics answering 404 on an older gatehouse) are not errors of the page.
    severe = [e for e in browser.get_log("browser")
              if e.get("level") == "SEVERE" and e.get("source") != "network"]
    assert not severe, severe

    # The proxy stops: the page says so in a banner and keeps the last data.
    gh.stop()
    poll("error banner", lambda: browser.find_element(By.ID, "banner").is_displayed(), 10)
    assert "Cannot refresh" in browser.find_element(By.ID, "banner").text
    assert set(routes_of(browser)) == {"/", "/api"}


@needs_browser
@pytest.mark.deadline(90)
def test_dashboard_token_prompt_and_admin_token(gatehouse, origin, browser, tmp_path):
    o = origin("solo")
    token_file = tmp_path / "admin.token"
    token_file.write_text("tok-3f9a1c\n")
    token_file.chmod(0o600)
    admin_port = free_port()
    gh = gatehouse(admin_config([route(o, health_check=HEALTH_FAST)], admin_port,
                                token_file=str(token_file)))
    ah = f"{HOST}:{admin_port}"

    # Without a browser: everything but /healthz needs the token.
    for target in ("/", "/status", "/metrics", "/nope"):
        r = http_request(admin_port, target=target, host=ah)
        assert r.status == 401, (target, r.status)
        assert r.header("www-authenticate") == 'Bearer realm="gatehouse admin"'
        r = http_request(admin_port, target=target, host=ah,
                         headers={"Authorization": "Bearer wrong"})
        assert r.status == 401, target
    assert http_request(admin_port, target="/healthz", host=ah).status == 200
    good = {"Authorization": "Bearer tok-3f9a1c"}
    assert http_request(admin_port, target="/status", host=ah, headers=good).status == 200
    assert http_request(admin_port, target="/", host=ah, headers=good).status == 200
    # GET / without the token: 401, and the body is the page itself.
    r = http_request(admin_port, target="/", host=ah)
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert b'id="token-form"' in r.body

    browser.get(f"http://{ah}/?refresh={REFRESH}")
    poll("token prompt", lambda: browser.find_element(By.ID, "token-panel").is_displayed(), 10)
    assert not browser.find_element(By.ID, "data").is_displayed()
    assert not browser.find_element(By.ID, "token-error").is_displayed()

    def submit(token):
        field = browser.find_element(By.ID, "token-input")
        field.clear()
        field.send_keys(token)
        browser.find_element(By.ID, "token-submit").click()

    submit("not-the-token")
    poll("wrong token refused", lambda: browser.find_element(By.ID, "token-error").is_displayed(), 10)
    assert "refused" in browser.find_element(By.ID, "token-error").text
    assert browser.find_element(By.ID, "token-panel").is_displayed()

    submit("tok-3f9a1c")
    poll("data with the token", lambda: browser.execute_script(
        "return document.body.dataset.mode") == "data" and routes_of(browser), 10)
    assert not browser.find_element(By.ID, "token-panel").is_displayed()
    poll("backend shown", lambda: ("/", o.address) in backends_of(browser), 5)
    assert browser.execute_script(
        "return sessionStorage.getItem('gatehouse-admin-token')") == "tok-3f9a1c"

    # A reload of the page keeps the token for this tab (the page itself
    # comes back 401, its fetches carry the token).
    browser.refresh()
    poll("data after a page reload", lambda: browser.execute_script(
        "return document.body.dataset.mode") == "data" and updates(browser) >= 1, 10)

    # SIGHUP rereads the token file: the old token stops working and the
    # page asks again, saying why.
    token_file.write_text("tok-rotated-77\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: http_request(admin_port, target="/status", host=ah,
                                           headers=good).status == 401, timeout=10)
    assert http_request(admin_port, target="/status", host=ah,
                        headers={"Authorization": "Bearer tok-rotated-77"}).status == 200
    poll("prompt after rotation", lambda: browser.find_element(By.ID, "token-error").is_displayed(), 10)
    submit("tok-rotated-77")
    poll("data with the new token", lambda: browser.execute_script(
        "return document.body.dataset.mode") == "data", 10)

    # Forget token: back to the prompt, and sessionStorage is empty.
    browser.find_element(By.ID, "forget-token").click()
    poll("prompt after forget", lambda: browser.find_element(By.ID, "token-panel").is_displayed(), 10)
    assert browser.execute_script("return sessionStorage.getItem('gatehouse-admin-token')") is None


def test_admin_token_file_errors_and_warning(gatehouse, tmp_path):
    """No browser needed: a token file readable by others is a warning in the
    log; an empty one stops the start with FILE:LINE:COL at the key."""
    import subprocess

    from helpers import GATEHOUSE, to_yaml
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(to_yaml({"server": {"host": HOST, "port": free_port()},
                                 "admin": {"enabled": True, "port": free_port(),
                                           "token_file": str(empty)}}) + "\n")
    p = subprocess.run([str(GATEHOUSE), "check", "-c", str(cfg_path)], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 1
    lines = cfg_path.read_text().splitlines()
    line = next(i for i, t in enumerate(lines, 1) if "token_file" in t)
    col = lines[line - 1].index("token_file:") + len("token_file: ") + 1
    assert f"{cfg_path}:{line}:{col}: admin 'token_file'" in p.stderr, p.stderr
    assert "is empty" in p.stderr

    open_file = tmp_path / "open.token"
    open_file.write_text("abc\n")
    open_file.chmod(0o644)
    admin_port = free_port()
    gh = gatehouse({"server": {"reverse_proxy": [{"path": "/", "host": HOST, "port": free_port()}]},
                    "admin": {"enabled": True, "host": HOST, "port": admin_port,
                              "token_file": str(open_file)}})
    assert "readable by group or others" in gh.logs()
    assert http_request(admin_port, target="/status", host=f"{HOST}:{admin_port}",
                        headers={"Authorization": "Bearer abc"}).status == 200


def test_admin_listener_defaults_to_loopback(gatehouse):
    """admin without host: the listener binds 127.0.0.1 (not a wildcard)."""
    admin_port = free_port()
    gh = gatehouse({"server": {"reverse_proxy": [{"path": "/", "host": HOST, "port": free_port()}]},
                    "admin": {"enabled": True, "port": admin_port}})
    assert f"listening on 127.0.0.1:{admin_port} (admin)" in gh.logs()
    assert http_request(admin_port, target="/healthz", host=f"{HOST}:{admin_port}").status == 200


class FakeAdmin:
    """An admin listener stand-in serving gatehouse's own dashboard page (its
    bytes and CSP fetched from a real gatehouse) next to a scripted /status
    and a /metrics whose counters advance by fixed amounts on each scrape:
    the page's arithmetic (rates, error share, histogram quantiles) checked
    against known answers, whatever this build's /metrics holds."""

    def __init__(self, page, csp):
        import http.server

        fake = self
        self.scrapes = 0

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, ctype, body, extra=()):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/":
                    return self.answer("text/html; charset=utf-8", page,
                                       [("Content-Security-Policy", csp)])
                if path == "/status":
                    return self.answer("application/json", fake.status().encode())
                if path == "/metrics":
                    fake.scrapes += 1
                    return self.answer("text/plain; version=0.0.4; charset=utf-8",
                                       fake.metrics(fake.scrapes).encode())
                self.send_error(404)

        self.server = http.server.ThreadingHTTPServer((HOST, 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def status():
        import json
        b = {"weight": 1, "backup": False, "state": "up", "in_flight": 0, "requests": 1,
             "failures": 0, "passive": {"consecutive_failures": 0, "ejected_for_ms": 0},
             "active_check": None}
        return json.dumps({"routes": [
            {"path": "/shop", "domains": ["shop.example.test"], "balance": "round_robin",
             "backends": [dict(b, name="10.0.0.1:80")]},
            {"path": "/fast", "domains": [], "balance": "random",
             "backends": [dict(b, name="10.0.0.2:80")]}]})

    @staticmethod
    def metrics(i):
        # Per scrape: 100 2xx + 10 5xx responses; 5 Proxy-Status errors; 100
        # observed durations: 50 in (5 ms, 10 ms], 40 in (10 ms, 50 ms], 10
        # in (100 ms, 250 ms], summing to 3.0 s.
        cum = {".005": 0, ".01": 50, ".025": 70, ".05": 90, ".1": 90, ".25": 100,
               ".5": 100, "1": 100, "2.5": 100, "5": 100, "10": 100, "+Inf": 100}
        lines = [
            "# HELP gatehouse_http_requests_total Requests answered.",
            "# TYPE gatehouse_http_requests_total counter",
            f'gatehouse_http_requests_total{{route="/shop",status_class="2xx",protocol="http/1.1"}} {60 * i}',
            f'gatehouse_http_requests_total{{route="/shop",status_class="2xx",protocol="h2"}} {40 * i}',
            f'gatehouse_http_requests_total{{route="/shop",status_class="5xx",protocol="h2"}} {10 * i}',
            f'gatehouse_proxy_errors_total{{route="/shop",error="connection_timeout"}} {5 * i}',
            "# TYPE gatehouse_http_request_duration_seconds histogram",
        ]
        for le, n in cum.items():
            lines.append(f'gatehouse_http_request_duration_seconds_bucket{{route="/shop",le="{le}"}} {n * i}')
            # /fast: every request under 5 ms, the lowest bucket.
            lines.append(f'gatehouse_http_request_duration_seconds_bucket{{route="/fast",le="{le}"}} {20 * i}')
        lines += [f'gatehouse_http_request_duration_seconds_sum{{route="/fast"}} {0.04 * i}',
                  f'gatehouse_http_request_duration_seconds_count{{route="/fast"}} {20 * i}',
                  f'gatehouse_http_requests_total{{route="/fast",status_class="2xx",protocol="h2"}} {20 * i}']
        lines += [f'gatehouse_http_request_duration_seconds_sum{{route="/shop"}} {3.0 * i}',
                  f'gatehouse_http_request_duration_seconds_count{{route="/shop"}} {100 * i}',
                  'gatehouse_build_info{version="9.9.9-test"} 1',
                  "gatehouse_downstream_connections_active 17",
                  "gatehouse_tunnels_active 2",
                  "gatehouse_http2_streams_active 5"]
        return "\n".join(lines) + "\n"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@needs_browser
@pytest.mark.deadline(60)
def test_dashboard_computes_rates_and_latency_from_metrics(gatehouse, browser):
    admin_port = free_port()
    gatehouse(admin_config([{"path": "/", "host": HOST, "port": free_port()}], admin_port))
    page = http_request(admin_port, target="/", host=f"{HOST}:{admin_port}")
    assert page.status == 200
    fake = FakeAdmin(page.body, page.header("content-security-policy"))
    try:
        browser.get(f"http://{HOST}:{fake.port}/?refresh={REFRESH}")
        r = poll("rates from two scrapes", lambda: (lambda x: x if x and x["p50"] != DASH else None)(
            routes_of(browser).get("/shop")), 10)
        assert r["p50"] == "10 ms", r          # the 50th of 100 is the top of (5 ms, 10 ms]
        assert r["p95"] == "175 ms", r         # halfway into (100 ms, 250 ms]
        assert r["mean"] == "30 ms", r         # 3.0 s / 100
        assert r["error-share"] == "9.1 %", r  # 10 of 110
        assert number(r["rate"]) > 0 and number(r["errors"]) > 0 and number(r["proxy-errors"]) > 0
        # rate / 5xx rate / Proxy-Status rate keep the 110 : 10 : 5 ratio.
        assert abs(number(r["rate"]) / number(r["errors"]) - 11) < 1.5, r
        assert abs(number(r["errors"]) / number(r["proxy-errors"]) - 2) < 0.5, r
        assert number(r["requests"]) >= 220
        assert browser.find_element(By.ID, "connections").text == "17"
        assert browser.find_element(By.ID, "tunnels").text == "2"
        assert browser.find_element(By.ID, "streams").text == "5"
        assert browser.find_element(By.ID, "version").text == "v9.9.9-test"
        assert not browser.find_element(By.ID, "routes-note").is_displayed()
        # In the lowest bucket a quantile is only known to be below its bound.
        fast = routes_of(browser)["/fast"]
        assert fast["p50"] == "< 5.0 ms" and fast["p95"] == "< 5.0 ms", fast
        assert fast["mean"] == "2.0 ms", fast
        assert fast["error-share"] == "0.0 %" and fast["proxy-errors"] == "0.0", fast
    finally:
        fake.stop()


def test_admin_token_rotates_on_sighup_and_a_bad_file_keeps_the_old_one(gatehouse, tmp_path):
    """No browser needed: SIGHUP rereads token_file; a reload whose file is
    empty is rejected and the token in force stays."""
    token_file = tmp_path / "admin.token"
    token_file.write_text("first-token\n")
    token_file.chmod(0o600)
    admin_port = free_port()
    gh = gatehouse({"server": {"reverse_proxy": [{"path": "/", "host": HOST, "port": free_port()}]},
                    "admin": {"enabled": True, "host": HOST, "port": admin_port,
                              "token_file": str(token_file)}})
    ah = f"{HOST}:{admin_port}"

    def status_with(token):
        h = {"Authorization": f"Bearer {token}"} if token else None
        return http_request(admin_port, target="/status", host=ah, headers=h).status

    assert status_with("first-token") == 200
    assert status_with(None) == 401
    token_file.write_text("second-token")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: status_with("second-token") == 200, timeout=10)
    assert status_with("first-token") == 401
    token_file.write_text("\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: "reload rejected" in gh.logs(), timeout=10)
    assert "admin 'token_file'" in gh.logs()
    assert status_with("second-token") == 200
    assert http_request(admin_port, target="/healthz", host=ah).status == 200
