"""Fixtures for the Python end-to-end tests (real PyPI `hypha-rpc` client).

`server` (module scope) spawns $HYPHA_CORE_SERVER_BIN on a free port and
waits for its LISTENING line; it is killed when the module's tests end, pass
or fail. HYPHA_TEST_SERVER_URL=http://host:port targets an already running
server instead (only for validating the suites against another Hypha server;
its secret comes from HYPHA_TEST_JWT_SECRET, and tests that need our
server's security model are skipped without it).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import secrets
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import jwt
import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server

LISTENING_RE = re.compile(r"HYPHA_CORE_SERVER_LISTENING\s+(https?://\S+)")
START_TIMEOUT = 20.0
METHOD_TIMEOUT = 10

_live: set[subprocess.Popen] = set()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Same as `asyncio_default_fixture_loop_scope = function` in an ini file
    # (silences pytest-asyncio's deprecation warning) unless set explicitly.
    if not config.getini("asyncio_default_fixture_loop_scope"):
        config._inicache["asyncio_default_fixture_loop_scope"] = "function"


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()


@dataclass
class Server:
    url: str
    port: int
    secret: Optional[str]
    external: bool = False
    proc: Optional[subprocess.Popen] = None
    output: list[str] = field(default_factory=list)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            _live.discard(proc)
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        _live.discard(proc)


def start_server(secret: Optional[str] = None, extra_args: Sequence[str] = (), port: int = 0) -> Server:
    """Spawn our server (`extra_args` are appended to its command line, e.g.
    ["--max-body", "1000"]); with HYPHA_TEST_SERVER_URL, return that server
    instead and ignore `extra_args`."""
    external = os.environ.get("HYPHA_TEST_SERVER_URL")
    if external:
        url = external.rstrip("/")
        return Server(
            url=url,
            port=int(url.rsplit(":", 1)[-1]),
            secret=os.environ.get("HYPHA_TEST_JWT_SECRET") or None,
            external=True,
        )
    binary = os.environ.get("HYPHA_CORE_SERVER_BIN")
    if not binary:
        raise RuntimeError(
            "HYPHA_CORE_SERVER_BIN is not set (scripts/test.sh sets it to target/debug/hypha-core-server)"
        )
    secret = secret or secrets.token_hex(24)
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "warn")
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--jwt-secret", secret, *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    _live.add(proc)
    run_dir = os.environ.get("HYPHA_TEST_RUN_DIR")
    pid_file = Path(run_dir) / f"server-{proc.pid}.pid" if run_dir else None
    if pid_file:
        pid_file.write_text(str(proc.pid))

    output: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    buf = b""
    url = None
    try:
        while url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"server did not print its LISTENING line within {START_TIMEOUT}s; output:\n"
                    + "".join(output)
                )
            if not sel.select(timeout=min(remaining, 0.5)):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited early with code {proc.returncode}; output:\n" + "".join(output)
                    )
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                proc.wait(timeout=5)
                raise RuntimeError(
                    f"server exited early with code {proc.returncode}; output:\n" + "".join(output)
                )
            buf += chunk
            output.append(chunk.decode(errors="replace"))
            m = LISTENING_RE.search(buf.decode(errors="replace"))
            if m:
                url = m.group(1).rstrip("/")
    except BaseException:
        proc.kill()
        proc.wait(timeout=5)
        _live.discard(proc)
        if pid_file:
            pid_file.unlink(missing_ok=True)
        raise
    finally:
        sel.close()

    # Keep draining the server's output so it never blocks on a full pipe.
    def _drain() -> None:
        for line in iter(proc.stdout.readline, b""):
            output.append(line.decode(errors="replace"))
            if len(output) > 2000:
                del output[:1000]
        if pid_file:
            pid_file.unlink(missing_ok=True)

    threading.Thread(target=_drain, daemon=True).start()
    return Server(url=url, port=int(url.rsplit(":", 1)[-1]), secret=secret, proc=proc, output=output)


@pytest.fixture(scope="module")
def server():
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def own_server(server):
    """The server, when it is ours (its JWT secret is known); skips otherwise."""
    if server.external or not server.secret:
        pytest.skip("needs hypha-core-server (security model and JWT secret)")
    return server


# ---- tokens -----------------------------------------------------------------


def claims(**extra) -> dict:
    now = int(time.time())
    base = {
        "roles": [],
        "scope": "",
        "iat": now,
        "exp": now + 3600,
        "iss": "hypha-core",
        "aud": "hypha-api",
    }
    base.update(extra)
    return base


def sign(payload: dict, secret: str) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def root_token(secret: str, **extra) -> str:
    return sign(claims(sub="root", roles=["admin"], **extra), secret)


def user_token(secret: str, sub: str, **extra) -> str:
    return sign(claims(sub=sub, workspace=f"ws-user-{sub}", email=f"{sub}@example.com", **extra), secret)


def uid(prefix: str = "t") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


# ---- clients ----------------------------------------------------------------


@pytest_asyncio.fixture
async def clients():
    """Factory: `await clients(srv, **config)` → hypha-rpc client on `srv`, disconnected at teardown."""
    made = []

    async def _make(srv, **config):
        cfg = {"server_url": srv.url, "method_timeout": METHOD_TIMEOUT}
        cfg.update(config)
        client = await asyncio.wait_for(connect_to_server(cfg), timeout=METHOD_TIMEOUT + 5)
        made.append(client)
        return client

    yield _make
    await asyncio.sleep(0.2)
    for client in reversed(made):
        try:
            await asyncio.wait_for(client.disconnect(), timeout=3)
        except Exception:  # already closed / server gone
            pass


@pytest_asyncio.fixture
async def connect(server, clients):
    """Factory: `await connect(**config)` → client on the module's server, disconnected at teardown."""

    async def _connect(**config):
        return await clients(server, **config)

    return _connect


@pytest_asyncio.fixture
async def same_workspace_pair(server, connect):
    """Two clients in one workspace: a minted user token for ours, generate_token otherwise."""
    if server.secret:
        token = user_token(server.secret, uid("user"))
        a = await connect(token=token, client_id=uid("prov"))
        b = await connect(token=token, client_id=uid("cons"), workspace=a.config.workspace)
    else:
        a = await connect(client_id=uid("prov"))
        token = await a.generate_token({})
        b = await connect(token=token, client_id=uid("cons"), workspace=a.config.workspace)
    return a, b
