"""The cluster over real Redis (issue 10): three hypha-core-servers share workspaces through a
`redis-server` started here on a free loopback port; Python and Node clients are spread over
them. Later tests break things (kill -9 a server, restart Redis empty), so the order matters.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server

from conftest import METHOD_TIMEOUT, Server, claims, sign, start_server, uid

REPO = Path(__file__).resolve().parents[3]
HEARTBEAT_TTL_S = 1.5  # --heartbeat-ttl-ms default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A throwaway redis-server on 127.0.0.1 (no persistence: a restart comes back empty)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found (scripts/lib/deps.sh ensure_cluster_tools)")
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def redis():
    r = Redis()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def cluster(redis):
    """Servers s1, s2, s3 (ids unique per run) sharing one secret and `redis`."""
    secret = os.urandom(24).hex()
    tag = uid("c")
    servers = {}
    try:
        for name in ("s1", "s2", "s3"):
            servers[name] = start_server(
                secret, ["--server-id", f"{tag}-{name}", "--redis-uri", redis.uri]
            )
        yield servers
    finally:
        for srv in servers.values():
            srv.stop()


def token(secret: str, sub: str, workspace: str) -> str:
    return sign(claims(sub=sub, workspace=workspace, scope=f"ws:{workspace}#rw"), secret)


@pytest_asyncio.fixture
async def on(clients):
    """Factory: `await on(server, sub, workspace, client_id)` → a client of `server` with a token
    of user `sub` for `workspace` (conftest's `clients` disconnects it at teardown)."""

    async def _make(srv, sub, workspace, client_id=None):
        return await clients(
            srv,
            token=token(srv.secret, sub, workspace),
            workspace=workspace,
            client_id=client_id or uid("cl"),
        )

    return _make


async def visible(client, service_id: str, timeout: float = 5.0):
    """Wait until `service_id` is listed to `client` (news travel through Redis)."""
    workspace = service_id.split("/")[0]
    deadline = time.monotonic() + timeout
    while True:
        ids = [s["id"] for s in await client.list_services({"workspace": workspace})]
        if service_id in ids:
            return ids
        if time.monotonic() > deadline:
            raise AssertionError(f"{service_id} not listed after {timeout}s: {ids}")
        await asyncio.sleep(0.05)


def provider_api(events=None):
    def add(a, b):
        return a + b

    async def apply(fn, value):
        return await fn(value)

    def count(n):
        for i in range(n):
            yield i

    def echo(x):
        return x

    return {"add": add, "apply": apply, "count": count, "echo": echo}


@pytest.mark.asyncio
async def test_listing_calls_callbacks_generators_and_1mib_across_three_servers(cluster, on):
    s1, s2, s3 = cluster["s1"], cluster["s2"], cluster["s3"]
    ws = uid("lab")
    prov = await on(s1, "alice", ws, "prov")
    await prov.register_service({"id": "calc", **provider_api()})
    user2 = await on(s2, "alice", ws)
    user3 = await on(s3, "alice", ws)
    for user in (user2, user3):
        ids = await visible(user, f"{ws}/prov:calc")
        assert f"{ws}/prov:built-in" in ids
        calc = await user.get_service(f"{ws}/prov:calc")
        assert await calc.add(2, 3) == 5
        assert await calc.apply(lambda v: v * 2, 21) == 42
        assert [x async for x in await calc.count(4)] == [0, 1, 2, 3]
        big = os.urandom(1024 * 1024)
        assert await calc.echo(big) == big

    # A Node client on s3 calls the same provider on s1.
    node = shutil.which("node")
    assert node, "node not found"
    args = {
        "server_url": s3.url,
        "token": token(s3.secret, "alice", ws),
        "workspace": ws,
        "client_id": uid("node"),
        "service": f"{ws}/prov:calc",
    }
    # Not subprocess.run: the provider answers from this process's event loop.
    proc = await asyncio.create_subprocess_exec(
        node, "--experimental-websocket", "--disable-warning=ExperimentalWarning",
        str(REPO / "tests/e2e/python/helpers/node_client.mjs"), json.dumps(args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    seen = [line for line in stdout.decode().splitlines() if line.startswith("{")]
    assert seen, stdout.decode()[-2000:]
    assert json.loads(seen[-1]) == {"add": 42, "callback": 21, "generated": [0, 1, 2]}


@pytest.mark.asyncio
async def test_events_reach_the_workspace_on_every_server_and_no_other(cluster, on):
    s1, s2, s3 = cluster["s1"], cluster["s2"], cluster["s3"]
    ws, other = uid("lab"), uid("oth")
    sender = await on(s1, "alice", ws)
    got = {"s2": [], "s3": [], "other": []}
    r2 = await on(s2, "alice", ws)
    r3 = await on(s3, "alice", ws)
    stranger = await on(s3, "bob", other)
    r2.on("news", lambda data: got["s2"].append(data))
    r3.on("news", lambda data: got["s3"].append(data))
    stranger.on("news", lambda data: got["other"].append(data))
    for client in (r2, r3, stranger):
        await client.subscribe(["news"])
    await asyncio.sleep(0.3)
    await sender.emit({"type": "news", "to": "*", "n": 1})
    deadline = time.monotonic() + 5
    while (not got["s2"] or not got["s3"]) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(got["s2"]) == 1 and len(got["s3"]) == 1, got
    await asyncio.sleep(0.3)
    assert got["other"] == []


@pytest.mark.asyncio
async def test_a_protected_service_is_refused_to_another_workspace_across_servers(cluster, on):
    s1, s2 = cluster["s1"], cluster["s2"]
    ws = uid("lab")
    prov = await on(s1, "alice", ws, "prov")
    await prov.register_service({"id": "secret", "config": {"visibility": "protected"}, "read": lambda: "s3cr3t"})
    await prov.register_service({"id": "open", "config": {"visibility": "public"}, "hello": lambda: "hi"})
    stranger = await on(s2, "mallory", uid("evil"))
    await asyncio.sleep(0.3)
    with pytest.raises(Exception, match="(?i)permission|not found|denied"):
        await stranger.get_service(f"{ws}/prov:secret")
    assert await (await stranger.get_service(f"{ws}/prov:open")).hello() == "hi"


@pytest.mark.asyncio
async def test_http_calls_and_streams_reach_a_provider_on_another_server(cluster, on):
    s1, s2, s3 = cluster["s1"], cluster["s2"], cluster["s3"]
    ws = uid("lab")
    prov = await on(s1, "alice", ws, "prov")
    await prov.register_service({"id": "calc", "config": {"visibility": "public"}, **provider_api()})
    await visible(await on(s3, "alice", ws), f"{ws}/prov:calc")
    async with httpx.AsyncClient(timeout=10) as http:
        for srv in (s2, s3):
            r = await http.get(f"{srv.url}/{ws}/services/prov:calc/add", params={"a": 2, "b": 5})
            assert r.status_code == 200, r.text
            assert r.json() == 7
            r = await http.get(f"{srv.url}/{ws}/services/prov:calc/count", params={"n": 3})
            assert r.status_code == 200, r.text
            assert [json.loads(line) for line in r.text.split()] == [0, 1, 2]
        # Requests in flight on two servers at once: their peers must not be confused on s1.
        urls = [f"{srv.url}/{ws}/services/prov:calc/add" for srv in (s2, s3) for _ in range(10)]
        answers = await asyncio.gather(
            *(http.get(url, params={"a": i, "b": 100}) for i, url in enumerate(urls))
        )
        assert [r.json() for r in answers] == [i + 100 for i in range(len(urls))]


@pytest.mark.asyncio
async def test_a_client_id_live_on_one_server_is_refused_on_another(cluster, on):
    s1, s2 = cluster["s1"], cluster["s2"]
    ws = uid("lab")
    await on(s1, "alice", ws, "only-one")
    await asyncio.sleep(0.3)
    with pytest.raises(Exception, match="(?i)already exists"):
        await on(s2, "alice", ws, "only-one")


@pytest.mark.asyncio
async def test_nginx_in_front_of_the_three_servers(cluster, on, tmp_path):
    """deploy/nginx/hypha-cluster.conf.template: WebSocket upgrade, sticky /ws, round-robin HTTP."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx not found (scripts/lib/deps.sh ensure_cluster_tools)"
    port = free_port()
    conf = (REPO / "deploy/nginx/hypha-cluster.conf.template").read_text()
    for name, value in {
        "__PREFIX__": str(tmp_path),
        "__LISTEN__": f"127.0.0.1:{port}",
        **{f"__{n.upper()}__": f"127.0.0.1:{srv.port}" for n, srv in cluster.items()},
    }.items():
        conf = conf.replace(name, value)
    assert "__" not in conf
    (tmp_path / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not listen"
            await asyncio.sleep(0.05)
        s1 = cluster["s1"]
        proxy = Server(url=f"http://127.0.0.1:{port}", port=port, secret=s1.secret, external=True)
        ws = uid("lab")
        prov = await on(s1, "alice", ws, "prov")
        await prov.register_service({"id": "calc", "config": {"visibility": "public"}, **provider_api()})
        through = await on(proxy, "alice", ws)
        await visible(through, f"{ws}/prov:calc")
        calc = await through.get_service(f"{ws}/prov:calc")
        assert await calc.add(20, 22) == 42
        assert await calc.apply(lambda v: v + 1, 41) == 42
        async with httpx.AsyncClient(timeout=10) as http:
            # Six requests, round-robin: every server answers for the provider on s1.
            for i in range(6):
                r = await http.get(f"{proxy.url}/{ws}/services/prov:calc/add", params={"a": i, "b": 1})
                assert r.status_code == 200, r.text
                assert r.json() == i + 1
        # nginx logs a request just after answering it.
        deadline = time.monotonic() + 5
        while (tmp_path / "access.log").read_text().count(f"/{ws}/services/prov:calc/add") < 6:
            assert time.monotonic() < deadline, (tmp_path / "access.log").read_text()[-2000:]
            await asyncio.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.asyncio
async def test_kill_9_purges_the_servers_clients_and_rejects_calls_waiting_on_them(redis, cluster, on):
    s2 = cluster["s2"]
    secret = s2.secret
    doomed = start_server(secret, ["--server-id", uid("doomed"), "--redis-uri", redis.uri])
    try:
        ws = uid("lab")
        prov = await on(doomed, "alice", ws, "prov")

        async def slow():
            await asyncio.sleep(60)

        await prov.register_service({"id": "slow", "slow": slow, "ping": lambda: "pong"})
        caller = await on(s2, "alice", ws)
        await visible(caller, f"{ws}/prov:slow")
        svc = await caller.get_service(f"{ws}/prov:slow")
        assert await svc.ping() == "pong"
        waiting = asyncio.ensure_future(svc.slow())
        await asyncio.sleep(0.3)
        killed = time.monotonic()
        doomed.proc.send_signal(signal.SIGKILL)
        with pytest.raises(Exception, match="(?i)disconnected|not connected|closed"):
            await asyncio.wait_for(waiting, 20)
        rejected_after = time.monotonic() - killed
        assert rejected_after < HEARTBEAT_TTL_S + 1.5, f"rejected only after {rejected_after:.1f}s"
        ids = [s["id"] for s in await caller.list_services({"workspace": ws})]
        assert not [i for i in ids if "/prov:" in i], ids
        print(f"kill -9: the waiting call was rejected after {rejected_after:.2f}s")
    finally:
        doomed.stop()


@pytest.mark.asyncio
async def test_a_restarted_server_rejoins_and_its_reconnected_clients_are_callable(redis, cluster, on):
    s2 = cluster["s2"]
    server_id = uid("phoenix")
    port = free_port()
    first = start_server(s2.secret, ["--server-id", server_id, "--redis-uri", redis.uri], port=port)
    second = None
    try:
        ws = uid("lab")
        prov = await on(first, "alice", ws, "prov")
        await prov.register_service({"id": "calc", "add": lambda a, b: a + b})
        caller = await on(s2, "alice", ws)
        await visible(caller, f"{ws}/prov:calc")
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=5)
        # Its id is refused while its heartbeat lives, then free again.
        await asyncio.sleep(HEARTBEAT_TTL_S + 0.5)
        second = start_server(s2.secret, ["--server-id", server_id, "--redis-uri", redis.uri], port=port)
        # hypha-rpc reconnects by itself and registers its services again.
        ids = await visible(caller, f"{ws}/prov:calc", timeout=30)
        assert f"{ws}/prov:calc" in ids
        assert await (await caller.get_service(f"{ws}/prov:calc")).add(20, 22) == 42
    finally:
        first.stop()
        if second:
            second.stop()


@pytest.mark.asyncio
async def test_redis_restarted_empty_is_rebuilt_from_the_servers(redis, cluster, on):
    s1, s3 = cluster["s1"], cluster["s3"]
    ws = uid("lab")
    prov = await on(s1, "alice", ws, "prov")
    await prov.register_service({"id": "calc", "add": lambda a, b: a + b})
    old_caller = await on(s3, "alice", ws)
    await visible(old_caller, f"{ws}/prov:calc")
    heard = []
    for event in ("service_removed", "client_disconnected"):
        old_caller.on(event, lambda data, event=event: heard.append((event, data)))
    await old_caller.subscribe(["service_removed", "client_disconnected"])
    redis.stop()
    redis.start()  # no persistence: it comes back empty (the servers start writing at once)
    # (KEYS is fine on this test's tiny Redis; the servers themselves never scan.)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        keys = redis.cli("KEYS", "hc:services:*").split()
        if any(f"{ws}/prov:calc" in redis.cli("HKEYS", key).split() for key in keys):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the servers did not write their state to the restarted Redis")
    # The servers still route for each other, and a client that comes now sees everything.
    assert await (await old_caller.get_service(f"{ws}/prov:calc")).add(1, 2) == 3
    newcomer = await on(s3, "alice", ws)
    await visible(newcomer, f"{ws}/prov:calc", timeout=10)
    assert await (await newcomer.get_service(f"{ws}/prov:calc")).add(3, 4) == 7
    # Redis lost every server at once, and none of them died: no server may take another's
    # absence from the empty Redis for its death and purge its clients, even for a moment.
    await asyncio.sleep(HEARTBEAT_TTL_S + 0.5)
    assert heard == [], heard


def test_bad_redis_options_are_clear_errors(redis, cluster):
    """No silent single-server fallback: a wrong scheme, an unreachable Redis, a live id."""
    secret = cluster["s1"].secret
    live_id = [a for a in cluster["s1"].proc.args if a.endswith("-s1")][0]
    cases = [
        (["--server-id", uid("x"), "--redis-uri", "http://127.0.0.1:1"], "unsupported --redis-uri"),
        (["--server-id", uid("x"), "--redis-uri", f"redis://127.0.0.1:{free_port()}"], "cannot reach Redis"),
        (["--redis-uri", redis.uri], "needs --server-id"),
        (["--server-id", live_id, "--redis-uri", redis.uri], "already live in the cluster"),
    ]
    for args, message in cases:
        with pytest.raises(RuntimeError) as failed:
            start_server(secret, args)
        assert message in str(failed.value), (args, str(failed.value)[-800:])


@pytest.mark.asyncio
async def test_a_reconnection_token_takes_the_client_over_on_another_server(redis, cluster, on):
    """A client that comes back through another server (a load balancer may send it anywhere)
    keeps its address: the server that held it closes the old connection."""
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import ConnectionClosed

    s1, s2, s3 = cluster["s1"], cluster["s2"], cluster["s3"]
    s2_id = [a for a in s2.proc.args if a.endswith("-s2")][0]
    ws = uid("lab")
    hello = {"client_id": "mover", "workspace": ws, "token": token(s1.secret, "alice", ws)}
    async with ws_connect(s1.url.replace("http", "ws") + "/ws") as first:
        await first.send(json.dumps(hello))
        info = json.loads(await asyncio.wait_for(first.recv(), 10))
        assert info["type"] == "connection_info", info
        again = {"client_id": "mover", "workspace": ws, "reconnection_token": info["reconnection_token"]}
        async with ws_connect(s2.url.replace("http", "ws") + "/ws") as second:
            await second.send(json.dumps(again))
            moved = json.loads(await asyncio.wait_for(second.recv(), 10))
            assert moved["type"] == "connection_info", moved
            assert (moved["workspace"], moved["client_id"]) == (ws, "mover")
            # s1 closes the old connection, and Redis says s2 holds the client now.
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(first.recv(), 5)
            assert redis.cli("GET", f"hc:client:{ws}/mover") == s2_id
            # A second live `ws/mover` anywhere else is refused (once the news reached s3; a
            # connection that beats the news is closed when Redis's SET NX fails instead).
            await asyncio.sleep(0.3)
            with pytest.raises(Exception, match="(?i)already exists"):
                await on(s3, "alice", ws, "mover")
