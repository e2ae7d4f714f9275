"""Command line: version, check, and FILE:LINE:COL config errors (CONTRACT.md)."""

import re
import textwrap
import time

import pytest

from helpers import HOST, http_request, run_gatehouse, to_yaml, wait_until

GOOD = """\
server:
  host: 127.0.0.1
  port: 18080
  timeouts:
    connect: 2s
    upstream_response: 250ms
  limits:
    max_header_bytes: 16k
    max_body_bytes: 1m
  reverse_proxy:
    - path: /api
      host: localhost
      port: 3000
      strip_prefix: true
    - path: /
      host: 127.0.0.1
      port: 3001
"""

# Every YAML example of the PyServe reverse-proxy page
# (shared/seeds/001_901d88810f18c40a.txt), unchanged.
SEED_EXAMPLES = {
    "configuration": """\
server:
  reverse_proxy:
    - host: localhost      # Backend server host
      path: /api          # Path to proxy
      port: 3000         # Backend server port
      ssl: false         # Backend SSL/TLS
      
    - host: localhost
      path: /ws
      port: 8080
      ssl: false         # Backend SSL/TLS
      
    - host: example.com
      path: /socket.io
      port: 443
      ssl: true          # Use SSL for backend connection
""",
    "http_proxying": """\
# Example HTTP proxy configuration
server:
  reverse_proxy:
    - host: api.internal
      path: /api
      port: 8000
      websocket: false
""",
    "websocket_proxying": """\
# Example WebSocket proxy configuration
server:
  reverse_proxy:
    - host: ws.example.com
      path: /ws
      port: 8080
      websocket: true
      ssl: false
""",
    "ssl": """\
# Frontend SSL (Client to PyServe)
ssl:
  enabled: true
  cert_file: ./ssl/cert.pem
  key_file: ./ssl/key.pem

# Backend SSL (PyServe to Backend)
server:
  reverse_proxy:
    - host: secure.example.com
      path: /secure
      port: 443
      ssl: true      # Enable SSL for backend connection
""",
    "api_gateway": """\
server:
  reverse_proxy:
    - host: auth.internal
      path: /auth
      port: 3000
    - host: api.internal
      path: /api/v1
      port: 8000
    - host: api.internal
      path: /api/v2
      port: 8001
""",
    "websocket_chat": """\
server:
  reverse_proxy:
    - host: chat.internal
      path: /ws/chat
      port: 8080
      websocket: true
    - host: notifications.internal
      path: /ws/notifications
      port: 8081
      websocket: true
""",
    "mixed": """\
server:
  reverse_proxy:
    - host: api.example.com
      path: /api
      port: 443
      ssl: true
    - host: ws.example.com
      path: /realtime
      port: 443
      websocket: true
      ssl: true
""",
}


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def error_lines(stderr, path):
    """Lines of the form FILE:LINE:COL: message, where FILE names `path`
    (as given, or any path ending in its file name)."""
    rx = re.compile(r"^(?:.*/)?" + re.escape(path.name) + r":(\d+):(\d+): (.+)$")
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in map(rx.match, stderr.splitlines()) if m]


def check(path, cwd=None):
    return run_gatehouse("check", "-c", str(path), cwd=cwd)


def assert_bad(path, line=None, contains=None):
    r = check(path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    errs = error_lines(r.stderr, path)
    assert errs, f"no FILE:LINE:COL: message line in stderr:\n{r.stderr}"
    if line is not None:
        assert any(e[0] == line for e in errs), (line, errs)
    if contains is not None:
        assert any(contains in e[2] for e in errs), (contains, errs)
    return errs


def test_version():
    r = run_gatehouse("version")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+\.\d+\.\d+", r.stdout), r.stdout


def test_check_good(tmp_path):
    p = write(tmp_path, "good.yaml", GOOD)
    r = check(p)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_check_unknown_key_with_hint(tmp_path):
    p = write(tmp_path, "typo.yaml", textwrap.dedent("""\
        server:
          port: 18080
          reverse_proxy:
            - path: /api
              host: localhost
              port: 3000
              strip_prefx: true
        """))
    errs = assert_bad(p, line=7, contains="did you mean 'strip_prefix'")
    assert any(e[0] == 7 and e[1] == 7 for e in errs), errs  # the key's own column


def test_check_unknown_top_level_key(tmp_path):
    p = write(tmp_path, "top.yaml", "server:\n  port: 18080\nsevrer_extra: 1\n")
    assert_bad(p, line=3)


def test_check_bad_duration(tmp_path):
    p = write(tmp_path, "dur.yaml", textwrap.dedent("""\
        server:
          port: 18080
          timeouts:
            connect: 5 parsecs
        """))
    assert_bad(p, line=4)


@pytest.mark.parametrize("port", ["70000", "-1", "abc", "3000.5"])
def test_check_bad_port(tmp_path, port):
    p = write(tmp_path, "port.yaml", textwrap.dedent(f"""\
        server:
          reverse_proxy:
            - path: /
              host: localhost
              port: {port}
        """))
    assert_bad(p, line=5)


def test_check_bad_listen_port(tmp_path):
    p = write(tmp_path, "lport.yaml", "server:\n  host: 127.0.0.1\n  port: 99999\n")
    assert_bad(p, line=3)


def test_check_yaml_syntax_error(tmp_path):
    p = write(tmp_path, "syntax.yaml", textwrap.dedent("""\
        server:
          port: 18080
          reverse_proxy: [
            - path: /
        """))
    assert_bad(p)


def test_check_bad_config_makes_run_fail_too(tmp_path):
    p = write(tmp_path, "typo2.yaml", "server:\n  port: 18080\n  strip_prefx: true\n")
    r = run_gatehouse("run", "-c", str(p))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert error_lines(r.stderr, p)


def test_check_missing_file(tmp_path):
    r = check(tmp_path / "nope.yaml")
    assert r.returncode == 1


@pytest.mark.parametrize("name", sorted(SEED_EXAMPLES))
def test_seed_examples_pass_check(tmp_path, name):
    text = SEED_EXAMPLES[name]
    if name == "ssl":
        trustme = pytest.importorskip("trustme")
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        (tmp_path / "ssl").mkdir()
        cert.cert_chain_pems[0].write_to_path(str(tmp_path / "ssl" / "cert.pem"))
        for pem in cert.cert_chain_pems[1:]:
            pem.write_to_path(str(tmp_path / "ssl" / "cert.pem"), append=True)
        cert.private_key_pem.write_to_path(str(tmp_path / "ssl" / "key.pem"))
    p = write(tmp_path, "config.yaml", text)
    r = check(p.name, cwd=tmp_path)
    assert r.returncode == 0, (name, r.stdout, r.stderr)


def test_seed_examples_match_seed_file():
    """Guards the copies above against drift from the seed page, when present."""
    from pathlib import Path
    here = Path(__file__).resolve()
    candidates = [p / "shared" / "seeds" / "001_901d88810f18c40a.txt" for p in here.parents]
    seed = next((c for c in candidates if c.exists()), None)
    if seed is None:
        pytest.skip("seed file not available")
    blocks = re.findall(r"```yaml\n(.*?)```", seed.read_text(), re.S)
    assert sorted(blocks) == sorted(SEED_EXAMPLES.values())


# --------------------------------------------------------------------------
# Cross-key rules (issue 11, item 4): errors only for combinations without a
# sensible meaning; unusual ones are warnings, printed by `check` (exit 0)
# and logged by `run` at start and on reload.


def test_check_accepts_a_health_timeout_longer_than_the_interval(tmp_path):
    p = write(tmp_path, "hc.yaml", textwrap.dedent("""\
        server:
          reverse_proxy:
            - path: /
              health_check: {interval: 500ms, timeout: 1s}
        """))
    r = check(p)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    assert "ok (1 routes)" in r.stdout, r.stdout


def test_check_counts_streams(tmp_path):
    """`check` names the streams entries too (a file with only streams used
    to say "ok (0 routes)")."""
    p = write(tmp_path, "streams.yaml", textwrap.dedent("""\
        server:
          reverse_proxy:
            - path: /
        streams:
          - listen: 127.0.0.1:5432
            backends: [{address: 127.0.0.1:15432}]
          - listen: 127.0.0.1:2222
            backends: [{address: 127.0.0.1:22}]
        """))
    r = check(p)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "ok (1 routes, 2 streams)" in r.stdout, r.stdout


WARNED = """\
server:
  reverse_proxy:
    - path: /a
      backends:
        - {address: "127.0.0.1:1", backup: true}
    - path: /b
      tls: {verify: false}
ssl:
  enabled: false
  redirect_http: true
"""


def test_check_prints_warnings_and_passes(tmp_path):
    p = write(tmp_path, "warned.yaml", WARNED)
    r = check(p)
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = error_lines(r.stderr, p)
    assert [(line, col) for line, col, _ in lines] == [(4, 7), (7, 7), (10, 18)], r.stderr
    assert all(msg.startswith("warning: ") for _, _, msg in lines), r.stderr
    assert "every backend is a backup" in lines[0][2]
    assert "'tls' has no effect while 'ssl' is false" in lines[1][2]
    assert "'redirect_http' has no effect" in lines[2][2]
    assert "ok (2 routes, 3 warnings)" in r.stdout, r.stdout


def test_check_with_errors_prints_warnings_too_and_fails(tmp_path):
    p = write(tmp_path, "both.yaml", WARNED + "  hsts: soon\n")
    r = check(p)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = error_lines(r.stderr, p)
    assert [line for line, _, _ in lines] == [4, 7, 10, 11], r.stderr
    assert not lines[3][2].startswith("warning: ")


def test_run_logs_warnings_at_start_and_on_reload(gatehouse, capture_backend):
    import signal
    b = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [
        {"path": "/", "host": "127.0.0.1", "port": b.port, "tls": {"verify": False}}]}})
    warning = re.compile(r"warn: \S*gatehouse-0\.yaml:\d+:\d+: warning: 'tls' has no effect while 'ssl' is false")
    assert len(warning.findall(gh.stderr())) == 1, gh.stderr()
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in gh.stderr(), 5), gh.stderr()
    assert len(warning.findall(gh.stderr())) == 2, gh.stderr()


@pytest.mark.deadline(40)
def test_run_health_check_with_timeout_longer_than_interval(gatehouse, capture_backend):
    """The issue's example runs: a backend that stops answering is marked down
    after `unhealthy` probes of up to 1 s each (one at a time, never
    overlapping although the interval is 500 ms), and up again when it is back."""
    from lb_helpers import down_re, lb_config, lb_route, proxy_status_params, up_re, wait_log
    b = capture_backend()
    gh = gatehouse(lb_config(lb_route([b], health_check={
        "path": "/healthz", "interval": "500ms", "timeout": "1s", "unhealthy": 2, "healthy": 2})))
    assert http_request(gh.port, "GET", "/x").status == 200

    b.mode = "hang"   # accepts, reads the probe, never answers
    start, conns = time.monotonic(), len(b.connections)
    m = wait_log(gh, down_re(b.address), timeout=8)
    took, probes = time.monotonic() - start, len(b.connections) - conns
    assert m, gh.stderr()[-3000:]
    assert "timeout after 1000ms" in m.group(0), m.group(0)
    # Two probes that each ran to the 1 s timeout: at least ~1.5 s (the first
    # may have started just before the switch), and at most three connections
    # by then (overlapping probes every 500 ms would have made about five).
    assert 1.4 <= took <= 6, took
    assert probes <= 3, (probes, took)
    r = http_request(gh.port, "GET", "/x")
    name, params = proxy_status_params(r)
    assert r.status == 503 and params.get("error") == "destination_unavailable", (r.status, r.headers)

    b.mode = "respond"
    assert wait_log(gh, up_re(b.address), timeout=8), gh.stderr()[-3000:]
    r = http_request(gh.port, "GET", "/x")
    assert r.status == 200 and r.body == b"captured", (r.status, r.body[:200])


def test_reload_names_settings_taken_at_start(gatehouse, capture_backend):
    """workers, max_connections and the access log shape the process: a
    reload that changes them says so (they apply at the next start or
    upgrade) and applies the rest of the file."""
    import signal
    b = capture_backend()
    cfg = {"server": {"workers": 1, "access_log": "stdout",
                      "reverse_proxy": [{"path": "/", "host": "127.0.0.1", "port": b.port}]}}
    gh = gatehouse(cfg)
    cfg["server"].update(host=HOST, port=gh.port, workers=2, access_log_format="combined",
                         limits={"max_connections": 7})
    gh.config_path.write_text(to_yaml(cfg) + "\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in gh.stderr(), 5), gh.stderr()
    err = gh.stderr()
    for key, change in (("workers", "from 1 to 2"), ("access_log_format", "from json to combined"),
                        ("limits.max_connections", "from 20000 to 7")):
        assert f"reload: server '{key}' changed {change}; it takes effect at the next start" in err, err
    assert "server 'access_log' changed" not in err, err
    assert http_request(gh.port, "GET", "/x").status == 200
