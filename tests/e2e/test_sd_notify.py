"""systemd readiness through sd_notify (contract "Admin and operations"):
with NOTIFY_SOCKET set, gatehouse reports READY=1 once listening,
RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP, STOPPING=1
when draining, and an upgraded process names itself with MAINPID= and
READY=1. A unix datagram socket stands in for systemd."""

import os
import shutil
import signal
import socket
import tempfile
import threading
import time

import pytest

import helpers
import ops_helpers
from helpers import HOST, free_port, route


class NotifySocket:
    """A bound AF_UNIX datagram socket collecting (time, message) pairs."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ghn-", dir="/tmp")   # short: sun_path is 108 bytes
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append(dict(line.split("=", 1) for line in data.decode().split("\n")
                                      if "=" in line))

    def wait_for(self, pred, start=0, timeout=10.0):
        """The first message from index `start` on that satisfies pred."""
        def find():
            for i, m in enumerate(self.messages[start:], start):
                if pred(m):
                    return (i, m)
            return None
        found = helpers.wait_until(find, timeout=timeout)
        assert found, f"no matching notify message; got {self.messages}"
        return found

    def close(self):
        self._stop.set()
        self._t.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify(monkeypatch):
    n = NotifySocket()
    monkeypatch.setenv("NOTIFY_SOCKET", n.path)
    yield n
    n.close()


def _cfg(o, port=None):
    return helpers.to_yaml({"server": {"host": HOST, "port": port or free_port(), "workers": 1,
                                       "timeouts": {"shutdown_drain": "1s"},
                                       "reverse_proxy": [route(o, "/")]}}) + "\n"


def test_ready_reload_and_stopping(gatehouse, origin, notify):
    o = origin()
    gh = gatehouse(_cfg(o))
    i, m = notify.wait_for(lambda m: m.get("READY") == "1")
    assert m.get("MAINPID") == str(gh.pid), m
    # The listener accepts by the time READY=1 is sent.
    assert helpers.http_request(gh.port, "GET", "/small").status == 200

    gh.signal(signal.SIGHUP)
    j, m = notify.wait_for(lambda m: m.get("RELOADING") == "1", start=i + 1)
    assert int(m["MONOTONIC_USEC"]) > 0, m
    mono_now = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
    assert abs(mono_now - int(m["MONOTONIC_USEC"])) < 10e6, m
    k, m = notify.wait_for(lambda m: m.get("READY") == "1", start=j + 1)
    assert "reloaded" in m.get("STATUS", ""), m

    # A rejected reload also ends with READY=1 (systemd waits for it).
    gh.config_path.write_text(gh.config_text + "bogus_key: 1\n")
    gh.signal(signal.SIGHUP)
    j, m = notify.wait_for(lambda m: m.get("RELOADING") == "1", start=k + 1)
    k, m = notify.wait_for(lambda m: m.get("READY") == "1", start=j + 1)
    assert "rejected" in m.get("STATUS", ""), m

    gh.signal(signal.SIGTERM)
    notify.wait_for(lambda m: m.get("STOPPING") == "1", start=k + 1)
    assert gh.wait_exit(6) == 0


def test_upgraded_process_reports_mainpid(gatehouse, origin, notify):
    o = origin()
    gh = gatehouse(_cfg(o))
    i, _ = notify.wait_for(lambda m: m.get("READY") == "1")
    gh.signal(signal.SIGUSR2)
    new_pid = ops_helpers.upgraded_pid(gh)
    try:
        j, m = notify.wait_for(lambda m: m.get("MAINPID") == str(new_pid), start=i + 1)
        assert m.get("READY") == "1", m
        assert gh.wait_exit(6) == 0
        # The old process's drain is not the service stopping.
        assert not any(m.get("STOPPING") for m in notify.messages), notify.messages
        assert helpers.http_request(gh.port, "GET", "/small").status == 200
    finally:
        ops_helpers.kill_pid(new_pid)
    notify.wait_for(lambda m: m.get("STOPPING") == "1", start=j + 1)


def test_nothing_sent_without_notify_socket(gatehouse, origin, monkeypatch):
    """Outside systemd: no NOTIFY_SOCKET, no sd_notify (and nothing breaks)."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    o = origin()
    gh = gatehouse(_cfg(o))
    gh.signal(signal.SIGHUP)
    assert helpers.wait_until(lambda: ops_helpers.reloads_done(gh) == 1, timeout=5)
    assert helpers.http_request(gh.port, "GET", "/small").status == 200
