"""hypha-core's server mode driven by the PyPI hypha-rpc client and plain HTTP, under Node and
Deno: the seed README's example (serve.mjs, imports changed only) is started in the project given
by SERVER_MODE_PROJECT (the consumers stage installs the packed package there), or here, where it
imports this package by its own name. DENO_BIN enables Deno."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt
import pytest
from hypha_rpc import connect_to_server

HERE = Path(__file__).resolve().parent
RUNTIMES = [
    r
    for r in os.environ.get("SERVER_MODE_RUNTIMES", "node,deno").split(",")
    if r != "deno" or os.environ.get("DENO_BIN")
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user_token(secret: str, sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "workspace": f"ws-user-{sub}", "roles": [], "scope": "",
              "iat": now, "exp": now + 600, "iss": "hypha-core", "aud": "hypha-api"}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module", params=RUNTIMES)
def server(request):
    runtime = request.param
    project = os.environ.get("SERVER_MODE_PROJECT")
    serve = HERE / "serve.mjs"
    if project:
        serve = Path(project) / "serve.mjs"
        shutil.copyfile(HERE / "serve.mjs", serve)
    port, secret = _free_port(), secrets.token_hex(16)
    if runtime == "deno":
        cmd = [os.environ["DENO_BIN"], "run", "--allow-net", "--allow-read", "--allow-env",
               str(serve), str(port), secret]
    else:
        cmd = ["node", str(serve), str(port), secret]
    proc = subprocess.Popen(cmd, cwd=serve.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ready "):
            break
    else:
        proc.kill()
    if not lines or not lines[-1].startswith("ready "):
        proc.kill()
        pytest.fail(f"{runtime}: not ready:\n{''.join(lines)}")
    yield {"runtime": runtime, "url": f"http://127.0.0.1:{port}", "secret": secret, "proc": proc}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{runtime}: did not exit by itself after SIGTERM")


def _get(url: str, token: str | None = None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.asyncio
async def test_python_client_calls_default_service_and_root_services(server):
    api = await connect_to_server({"server_url": server["url"], "method_timeout": 15})
    try:
        me = api.config.user["id"] if isinstance(api.config.user, dict) else api.config["user"]["id"]
        ws = api.config.workspace
        assert await api.hello("py") == f"Hello, py! ({me} in {ws})"
        calc = await api.get_service("default/root:calc")
        assert await calc.add(20, 22) == 42
        assert await calc.caller() == me
    finally:
        await api.disconnect()


@pytest.mark.asyncio
async def test_python_provider_is_called_over_http_with_the_callers_identity(server):
    token = _user_token(server["secret"], "dana")
    api = await connect_to_server({"server_url": server["url"], "token": token,
                                   "method_timeout": 15})
    try:
        await api.register_service({
            "id": "py-svc",
            "config": {"visibility": "public", "require_context": True},
            "whoami": lambda context=None: context["user"]["id"],
            "square": lambda x, context=None: x * x,
        })
        base = f"{server['url']}/{api.config.workspace}/services/py-svc"
        # The provider answers on this event loop: block a thread, not the loop.
        get = lambda *a: asyncio.to_thread(_get, *a)  # noqa: E731
        assert await get(f"{base}/square?x=12") == (200, "144")
        assert await get(f"{base}/whoami") == (200, '"anonymouz-http"')
        assert await get(f"{base}/whoami", _user_token(server["secret"], "erin")) == (200, '"erin"')
        status, _ = await get(f"{base}/whoami", _user_token("wrong-secret", "erin"))
        assert status == 401
    finally:
        await api.disconnect()


def test_health(server):
    status, body = _get(f"{server['url']}/health")
    assert status == 200 and '"status":"ok"' in body
