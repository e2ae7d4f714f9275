"""Building blocks for the reload / upgrade / signal tests: wrk load with
exact counts, WebSockets that ping throughout, the admin /status view, and
finding the process that serves after an upgrade."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import helpers
import ws_helpers
from ws_helpers import OP_PING, OP_PONG, OP_TEXT

WRK = shutil.which("wrk") or "/usr/bin/wrk"

# Per thread: non-2xx statuses; done() sums them and prints one JSON line
# (wrk's own summary does not count 1xx/3xx, and prints nothing when zero).
_WRK_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("non2xx") end
  io.write(string.format(
    'WRKJSON {"requests":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d,"non2xx":%d}\n',
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status, n))
end
"""


class Wrk:
    """wrk running in the background for `seconds`; result() waits for it and
    returns its counts (requests, connect/read/write/timeout errors, non2xx)."""

    def __init__(self, url, seconds, connections=16, threads=1, headers=()):
        self._dir = tempfile.mkdtemp(prefix="gh-wrk-")
        script = Path(self._dir) / "count.lua"
        script.write_text(_WRK_LUA)
        args = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
                "-s", str(script)]
        for h in headers:
            args += ["-H", h]
        args.append(url)
        self.seconds = seconds
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, stdin=subprocess.DEVNULL)

    def result(self):
        try:
            out, _ = self.proc.communicate(timeout=self.seconds + 30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self._dir, ignore_errors=True)
        m = re.search(r"WRKJSON (\{.*\})", out)
        assert m, f"no summary from wrk:\n{out}"
        res = json.loads(m.group(1))
        res["output"] = out
        return res


def assert_clean(res, what="wrk"):
    """Zero socket errors, zero non-2xx, and some load actually ran."""
    errors = {k: res[k] for k in ("connect", "read", "write", "timeout", "status", "non2xx")}
    assert res["requests"] > 100, f"{what}: too little load ran:\n{res['output']}"
    assert not any(errors.values()), f"{what}: {errors} in {res['requests']} requests:\n{res['output']}"


class WsPingers:
    """`n` WebSockets through gatehouse to the demo origin's echo, each
    pinged and sent a message every `interval` seconds by one thread;
    failures are recorded, not raised. stop() ends the loop and returns
    the failures (empty: every socket stayed up and answered)."""

    def __init__(self, port, n=4, interval=0.25, target="/ws/echo"):
        self.conns = [ws_helpers.raw_ws_connect(port, target) for _ in range(n)]
        self.failures = []
        self.rounds = 0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            for i, ws in enumerate(self.conns):
                try:
                    ws.send(OP_PING, b"p%d" % self.rounds)
                    f = ws.recv(timeout=5.0)
                    assert f.opcode == OP_PONG, f
                    msg = b"m%d-%d" % (i, self.rounds)
                    ws.send(OP_TEXT, msg)
                    f = ws.recv(timeout=5.0)
                    assert f.opcode == OP_TEXT and f.payload == msg, f
                except Exception as e:  # noqa: BLE001 (recorded for the test to assert)
                    self.failures.append(f"ws {i} round {self.rounds}: {e!r}")
                    self._stop.set()
                    return
            self.rounds += 1
            self._stop.wait(self._interval)

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        for ws in self.conns:
            ws.close()
        return self.failures


def status(admin_port):
    r = helpers.http_request(admin_port, "GET", "/status", host="127.0.0.1")
    assert r.status == 200, r
    return r.json()


def backend_view(st, route_path, backend_name):
    for r in st["routes"]:
        if r["path"] != route_path:
            continue
        for b in r["backends"]:
            if b["name"] == backend_name:
                return b
    return None


def reloads_done(gh):
    # stderr only: operational lines (stdout may hold a large access log).
    return gh.stderr().count("configuration reloaded from")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped yet) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


UPGRADED_RE = re.compile(r"upgrade: pid (\d+) serves")


def upgraded_pid(gh, timeout=15.0):
    """The pid an upgrade of `gh` handed over to (from the old process's log)."""
    m = helpers.wait_until(lambda: UPGRADED_RE.search(gh.stderr()), timeout=timeout)
    assert m, f"no upgrade handover logged:\n{gh.logs()[-3000:]}"
    return int(m.group(1))


def kill_pid(pid, timeout=25.0):
    """SIGTERM to a process the test started indirectly (an upgrade's new
    process); waits for it to go, then SIGKILL."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not helpers.wait_until(lambda: not pid_alive(pid), timeout=timeout, interval=0.05):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
