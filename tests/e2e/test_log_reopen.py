"""SIGUSR1 reopens the access-log file (contract "Admin and operations"):
logrotate renames the file and signals; lines after the signal land in a new
file at the configured path, created with the old file's mode, and no line
is lost across the rename. stdout as the destination: SIGUSR1 is a no-op."""

import json
import os
import signal
import stat
import threading
import time

import helpers
from helpers import HOST, free_port, http_request, route


def _lines(path):
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def test_sigusr1_reopens_after_a_rename_and_loses_no_line(gatehouse, origin, tmp_path):
    o = origin()
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.touch()
    os.chmod(log, 0o640)
    gh = gatehouse({"server": {"access_log": str(log), "workers": 2,
                               "reverse_proxy": [route(o, "/")]}})
    sent = []
    stop = threading.Event()

    def load():
        n = 0
        while not stop.is_set():
            target = f"/small?n={n}"
            assert http_request(gh.port, "GET", target).status == 200
            sent.append(target)
            n += 1

    t = threading.Thread(target=load, daemon=True)
    t.start()
    rotated = []
    for gen in range(1, 4):
        time.sleep(0.4)
        r = log.with_name(f"access.log.{gen}")
        os.rename(log, r)   # logrotate's default: rename, then signal
        rotated.append(r)
        gh.signal(signal.SIGUSR1)
        assert helpers.wait_until(log.exists, timeout=5), "no new file after SIGUSR1"
        assert stat.S_IMODE(log.stat().st_mode) == 0o640, oct(log.stat().st_mode)
    time.sleep(0.4)
    stop.set()
    t.join(10)
    # Every request is logged exactly once, in one of the files.
    files = rotated + [log]
    assert helpers.wait_until(lambda: sum(len(_lines(f)) for f in files) >= len(sent), timeout=5)
    logged = [rec["path"] for f in files for rec in _lines(f)]
    assert sorted(logged) == sorted(sent), (len(logged), len(sent))
    # Each generation got lines, and the newest file got the last ones.
    assert all(_lines(f) for f in files), [len(_lines(f)) for f in files]
    assert sent[-1] in [rec["path"] for rec in _lines(log)]
    assert gh.logs().count("access log reopened") == 3, gh.logs()[-2000:]


def test_sigusr1_with_stdout_log_is_a_noop(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"access_log": "stdout", "reverse_proxy": [route(o, "/")]}})
    assert http_request(gh.port, "GET", "/small").status == 200
    gh.signal(signal.SIGUSR1)
    assert helpers.wait_until(lambda: "nothing to reopen" in gh.logs(), timeout=5), gh.logs()
    assert http_request(gh.port, "GET", "/small?after").status == 200
    assert helpers.wait_until(lambda: len(gh.access_log()) == 2, timeout=5), gh.access_log()
