"""Fixtures for gatehouse's end-to-end tests.

Run with: GATEHOUSE_BUILD=build /usr/bin/python3 -m pytest tests/e2e
Everything binds 127.0.0.1 only; every test is bounded by a watchdog.
"""

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402

WATCHDOG_SECONDS = 60


def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): per-test watchdog (default 60 s)")


def _binary_missing(path):
    return not path.exists()


@pytest.fixture(autouse=True)
def watchdog(request):
    """Fails a test that runs too long instead of hanging the suite. SIGALRM
    interrupts blocking socket calls in the main thread."""
    marker = request.node.get_closest_marker("deadline")
    seconds = int(marker.args[0]) if marker else WATCHDOG_SECONDS

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded its {seconds}s watchdog")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def free_port():
    return helpers.free_port


@pytest.fixture
def origin():
    """Factory: origin(name=None, threads=1) -> a running demo-origin."""
    if _binary_missing(helpers.DEMO_ORIGIN):
        pytest.fail(f"demo-origin not built at {helpers.DEMO_ORIGIN} (set GATEHOUSE_BUILD)")
    started = []

    def start(name=None, threads=1):
        o = helpers.Origin(name=name, threads=threads)
        started.append(o)
        return o

    yield start
    for o in started:
        o.stop()


@pytest.fixture
def capture_backend():
    """Factory: capture_backend(response=..., mode="respond") -> CaptureBackend."""
    started = []

    def start(response=helpers.DEFAULT_CAPTURE_RESPONSE, mode="respond"):
        b = helpers.CaptureBackend(response=response, mode=mode)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def raw_backend():
    """Factory: raw_backend(handler) -> hostile.RawBackend answering with handler(conn, req)."""
    import hostile
    started = []

    def start(handler):
        b = hostile.RawBackend(handler)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def gatehouse(tmp_path):
    """Factory: gatehouse(config dict or YAML text, cwd=None) -> Gatehouse.

    Teardown stops every instance and fails the test if one crashed."""
    if _binary_missing(helpers.GATEHOUSE):
        pytest.fail(f"gatehouse not built at {helpers.GATEHOUSE} (set GATEHOUSE_BUILD)")
    started = []

    def start(config, cwd=None, ready_timeout=10.0, extra_args=()):
        g = helpers.Gatehouse(config, tmp_path, cwd=cwd, ready_timeout=ready_timeout,
                              extra_args=extra_args)
        started.append(g)
        return g

    yield start
    problems = [p for p in (g.teardown() for g in started) if p]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
