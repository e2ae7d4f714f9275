"""SIGUSR2 binary upgrade (issue 16, contract "Admin and operations"): the
binary starts again with the listening sockets inherited, reports ready, and
the old process drains and exits; under load no connection is refused and no
request fails. A new process that cannot start leaves the old one serving;
a binary replaced on disk is what the upgrade runs. /healthz answers 503
while a process drains."""

import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

import helpers
import ops_helpers
import ws_helpers
from helpers import HOST, free_port, http_request, route
from ws_helpers import OP_PING, OP_PONG


def _cfg(o, drain="3s", admin_port=None, workers=2):
    c = {"server": {"host": HOST, "port": free_port(), "workers": workers, "access_log": "off",
                    "timeouts": {"shutdown_drain": drain},
                    "reverse_proxy": [route(o, "/")]}}
    if admin_port:
        c["admin"] = {"enabled": True, "host": HOST, "port": admin_port}
    return helpers.to_yaml(c) + "\n"


class NewConnections:
    """New connections in a loop, one request each (Connection: close):
    counts answers and failures (refused, reset, not 200)."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                r = http_request(self.port, "GET", "/small", headers=[("Connection", "close")])
                if r.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(r.status)
            except Exception as e:  # noqa: BLE001 (counted)
                self.failures.append(repr(e))

    def stop(self):
        self._stop.set()
        self._t.join(10)
        return self.failures


@pytest.mark.deadline(60)
def test_upgrade_under_load_refuses_and_fails_nothing(gatehouse, origin):
    o = origin(threads=2)
    admin = free_port()
    gh = gatehouse(_cfg(o, drain="3s", admin_port=admin))
    new_pid = None
    try:
        ws = ws_helpers.raw_ws_connect(gh.port, "/ws/echo")
        keepalive = ops_helpers.Wrk(f"http://{HOST}:{gh.port}/small", 8, connections=16)
        fresh = ops_helpers.Wrk(f"http://{HOST}:{gh.port}/small", 8, connections=4,
                                headers=["Connection: close"])
        loop = NewConnections(gh.port)
        time.sleep(2.0)
        gh.signal(signal.SIGUSR2)
        new_pid = ops_helpers.upgraded_pid(gh)
        assert new_pid != gh.pid and ops_helpers.pid_alive(new_pid)
        # Draining: the old process's WebSocket stays up until the drain ends.
        time.sleep(1.0)
        ws.send(OP_PING, b"still")
        f = ws.recv(timeout=5)
        assert f.opcode == OP_PONG and f.payload == b"still", f
        code = gh.wait_exit(3 + 5)
        assert code == 0, (code, gh.logs()[-3000:])
        # ...and ends with it.
        with pytest.raises((EOFError, OSError)):
            ws.recv(timeout=2)
        ws.close()
        r1, r2 = keepalive.result(), fresh.result()
        failures = loop.stop()
        print(f"\nupgrade under load: keep-alive {r1['requests']} requests, Connection: close "
              f"{r2['requests']} requests, new-connection loop {loop.ok}; errors "
              f"{[(r[k]) for r in (r1, r2) for k in ('connect', 'read', 'write', 'timeout', 'non2xx')]}, "
              f"loop failures {failures[:5]}")
        ops_helpers.assert_clean(r1, "keep-alive wrk")
        ops_helpers.assert_clean(r2, "Connection: close wrk")
        assert not failures and loop.ok > 20, (loop.ok, failures[:10])
        # The new process serves, the admin listener included.
        assert ops_helpers.pid_alive(new_pid)
        assert http_request(gh.port, "GET", "/small").status == 200
        assert http_request(admin, "GET", "/healthz").status == 200
        logs = gh.logs()
        assert logs.count(f"listening on {HOST}:{gh.port} (http)") == 2, logs[-3000:]
    finally:
        if new_pid:
            ops_helpers.kill_pid(new_pid)


def test_upgrade_with_a_bad_config_keeps_the_old_process(gatehouse, origin):
    o = origin()
    gh = gatehouse(_cfg(o))
    gh.config_path.write_text(gh.config_text + "bogus_key: 1\n")
    gh.signal(signal.SIGUSR2)
    assert helpers.wait_until(lambda: "upgrade failed" in gh.logs(), timeout=10), gh.logs()
    assert "exited with status 1; still serving" in gh.logs(), gh.logs()
    assert gh.proc.poll() is None
    for _ in range(20):
        assert http_request(gh.port, "GET", "/small").status == 200
    # Fixed, the next upgrade goes through.
    gh.config_path.write_text(gh.config_text)
    gh.signal(signal.SIGUSR2)
    new_pid = ops_helpers.upgraded_pid(gh)
    try:
        assert gh.wait_exit(3 + 5) == 0
        assert http_request(gh.port, "GET", "/small").status == 200
    finally:
        ops_helpers.kill_pid(new_pid)


def test_upgrade_runs_the_binary_replaced_on_disk(gatehouse, origin, tmp_path, monkeypatch):
    """Started from a copy; the copy is replaced (renamed over, as package
    managers do); SIGUSR2 runs the file now at that path."""
    o = origin()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "gatehouse"
    shutil.copy2(helpers.GATEHOUSE, exe)
    monkeypatch.setattr(helpers, "GATEHOUSE", exe)
    gh = gatehouse(_cfg(o, drain="1s", workers=1))
    tmp = bindir / "gatehouse.new"
    shutil.copy2(exe, tmp)   # another inode at the same path
    new_inode = tmp.stat().st_ino
    os.replace(tmp, exe)
    assert os.readlink(f"/proc/{gh.pid}/exe").endswith("(deleted)")
    gh.signal(signal.SIGUSR2)
    new_pid = ops_helpers.upgraded_pid(gh)
    try:
        assert os.readlink(f"/proc/{new_pid}/exe") == str(exe)
        assert os.stat(f"/proc/{new_pid}/exe").st_ino == new_inode
        assert gh.wait_exit(1 + 5) == 0
        assert http_request(gh.port, "GET", "/small").status == 200
    finally:
        ops_helpers.kill_pid(new_pid)


def test_upgrade_to_fewer_workers_accepts_on_every_inherited_socket(gatehouse, origin):
    """The old process had 4 sockets per listener; the new config has 1
    worker: it must accept on all 4 (a socket left alone would strand the
    connections the kernel hashes to it)."""
    o = origin()
    gh = gatehouse(_cfg(o, drain="1s", workers=4))
    gh.config_path.write_text(gh.config_text.replace("workers: 4", "workers: 1"))
    gh.signal(signal.SIGUSR2)
    new_pid = ops_helpers.upgraded_pid(gh)
    try:
        assert gh.wait_exit(1 + 5) == 0
        for _ in range(64):   # many source ports: every socket gets some
            r = http_request(gh.port, "GET", "/small", headers=[("Connection", "close")], timeout=3)
            assert r.status == 200
    finally:
        ops_helpers.kill_pid(new_pid)


def test_healthz_answers_503_while_draining(gatehouse, origin):
    o = origin()
    admin = free_port()
    gh = gatehouse(_cfg(o, drain="5s", admin_port=admin))
    assert http_request(admin, "GET", "/healthz").status == 200
    slow = helpers.connect(gh.port)
    slow.sendall(helpers.build_request("GET", "/sleep/2500"))
    time.sleep(0.3)
    gh.signal(signal.SIGTERM)
    time.sleep(0.3)
    r = http_request(admin, "GET", "/healthz")
    assert r.status == 503 and r.body == b"draining", r
    assert helpers.read_response(helpers.SockReader(slow)).status == 200
    slow.close()
    assert gh.wait_exit(10) == 0
