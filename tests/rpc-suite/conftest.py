"""Fixtures for hypha-rpc's own test suite, against hypha-core-server (written by us; replaces the
sdist's tests/conftest.py, which starts the Python hypha server with MinIO).

- `websocket_server` (session): one hypha-core-server on WS_PORT for the whole process.
- `restartable_server` (function): that same server, which a test may stop, start and restart
  on its port (the reconnection tests).

The server binary is $HYPHA_CORE_SERVER_BIN; its JWT secret is random per server. Every server
started here is killed when the process exits, pass or fail.

The tests named in exclusions.txt (next to this file; run.sh puts it there) are deselected by
exact node id, each with the reason given there; a name that matches no collected test of a
collected file is an error, so the list cannot go stale.
"""

import atexit
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from . import WS_PORT

START_TIMEOUT = 20.0
EXCLUSIONS = Path(__file__).with_name("exclusions.txt")
_live: set = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RestartableServer:
    """hypha-core-server on a fixed port, which tests may stop and start again."""

    def __init__(self, port=None):
        self.port = port if port is not None else _free_port()
        self.secret = secrets.token_hex(24)
        self.proc = None
        self._pid_file = None

    def start(self, timeout=START_TIMEOUT):
        if self.proc is not None:
            self.stop()
        binary = os.environ.get("HYPHA_CORE_SERVER_BIN")
        if not binary:
            raise RuntimeError("HYPHA_CORE_SERVER_BIN is not set (tests/rpc-suite/run.sh sets it)")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port), "--jwt-secret", self.secret],
            stdin=subprocess.DEVNULL,
            env=env,
        )
        _live.add(self.proc)
        run_dir = os.environ.get("HYPHA_TEST_RUN_DIR")
        if run_dir:
            self._pid_file = Path(run_dir) / f"server-{self.proc.pid}.pid"
            self._pid_file.write_text(str(self.proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hypha-core-server exited with {self.proc.returncode}")
            if self.is_running():
                return True
            time.sleep(0.05)
        raise RuntimeError(f"hypha-core-server did not answer on port {self.port} within {timeout}s")

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        _live.discard(proc)
        if self._pid_file:
            self._pid_file.unlink(missing_ok=True)

    def restart(self, stop_delay=0.1, start_timeout=START_TIMEOUT):
        self.stop()
        if stop_delay > 0:
            time.sleep(stop_delay)
        self.start(start_timeout)

    def is_running(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/health/liveness", timeout=1).ok
        except requests.RequestException:
            return False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture(name="websocket_server", scope="session")
def websocket_server_fixture():
    server = RestartableServer(WS_PORT)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="restartable_server", scope="function")
def restartable_server_fixture(websocket_server):
    """The server at WS_SERVER_URL, which the test may stop and restart: the restart tests
    connect to WS_SERVER_URL (test_wm_proxy_refresh.py) or to `restartable_server.port`, so
    both must name this one server. It runs again when the test ends."""
    try:
        yield websocket_server
    finally:
        if not websocket_server.is_running():
            websocket_server.start()


def _exclusions() -> dict[str, str]:
    """Node ids (relative to tests/) to deselect, with the reason each has."""
    found, reason = {}, ""
    if not EXCLUSIONS.exists():
        return found
    for line in EXCLUSIONS.read_text().splitlines():
        node, _, comment = line.partition("#")
        node, comment = node.strip(), comment.strip()
        if not node:
            if comment:
                reason = comment
            continue
        found[node] = comment or reason
    return found


def pytest_collection_modifyitems(config, items):
    excluded = _exclusions()
    keep, dropped, seen = [], [], set()
    for item in items:
        node = item.nodeid.split("tests/", 1)[-1]
        if node in excluded:
            dropped.append(item)
            seen.add(node)
        else:
            keep.append(item)
    collected_files = {item.nodeid.split("tests/", 1)[-1].split("::")[0] for item in items}
    stale = [n for n in excluded if n.split("::")[0] in collected_files and n not in seen]
    if stale:
        raise pytest.UsageError(f"exclusions.txt names tests that do not exist: {stale}")
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
