#!/usr/bin/env python3
"""The cluster benchmark (issue 10): ours (three hypha-core-servers on one Redis) and the Python
hypha server (three `hypha.server --redis-uri` on another Redis), driven by the same hypha-rpc
clients. Prints a Markdown table; nothing is asserted.

Per implementation:
  - an echo peer (hypha_bench.py's, its own process) on server 1; a caller on server 1
    (same-server) and one on server 2 (cross-server);
  - p50/p99 of sequential calls, calls/s with 32 in flight;
  - Redis commands per call during the calls/s run (`INFO commandstats` deltas; heartbeats and
    the like included, so the PUBLISH column is the data path alone), and each server's CPU per
    call;
  - kill -9 of server 3 while a caller on server 2 waits on a provider connected to server 3:
    the time until the waiting call is released, and until server 2 no longer lists the
    provider's service.

Usage: bench/cluster.sh [--calls N] [--only ours|python]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hypha_bench as hb  # noqa: E402

from hypha_rpc import connect_to_server  # noqa: E402


class Redis:
    def __init__(self, logdir: str, name: str) -> None:
        self.port = hb.free_port()
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=open(f"{logdir}/redis-{name}.log", "ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True).stdout.strip()

    def commandstats(self) -> dict[str, int]:
        stats = {}
        for line in self.cli("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                fields = dict(kv.split("=") for kv in rest.split(","))
                stats[name] = int(fields["calls"])
        return stats

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


def start_ours(binary: str, server_id: str, redis: Redis, logdir: str) -> hb.Server:
    cmd = [binary, "--host", "127.0.0.1", "--port", "0", "--jwt-secret", hb.JWT_SECRET,
           "--server-id", server_id, "--redis-uri", redis.uri]
    proc, line, ready_s, _ = hb._spawn_with_marker(
        cmd, "HYPHA_CORE_SERVER_LISTENING", f"{logdir}/ours-{server_id}.log", 30,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    return hb.Server("ours", proc, line.split()[1], ready_s, None, f"{logdir}/ours-{server_id}.log")


def start_python(ref_python: str, server_id: str, redis: Redis, logdir: str) -> hb.Server:
    port = hb.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "JWT_SECRET": hb.JWT_SECRET, "HYPHA_WS_MSG_RATE_LIMIT": "10000000",
           "HYPHA_WS_MSG_BURST_LIMIT": "10000000", "HYPHA_LOGLEVEL": "WARNING"}
    logpath = f"{logdir}/python-{server_id}.log"
    proc = subprocess.Popen(
        [ref_python, "-m", "hypha.server", "--host", "127.0.0.1", "--port", str(port),
         "--redis-uri", redis.uri, "--server-id", server_id],
        stdout=open(logpath, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, env=env, cwd=logdir,
    )
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 120:
        if proc.poll() is not None:
            raise RuntimeError(f"python hypha exited ({proc.returncode}), see {logpath}")
        if hb.http_status(url + "/health/liveness", 0.5) == 200:
            return hb.Server("python", proc, url, time.perf_counter() - t0, None, logpath)
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"python hypha did not answer /health/liveness, see {logpath}")


async def client(url: str, workspace: str | None = None, token: str | None = None):
    cfg = {"server_url": url, "method_timeout": 60}
    if token:
        cfg.update(workspace=workspace, token=token)
    return await connect_to_server(cfg)


async def service_on(c, service_id: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await c.get_service(service_id)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def flows(servers: list[hb.Server], redis: Redis, calls: int) -> dict:
    out: dict = {}
    # Public: Python hypha's replicas relay a cross-server call through the caller's manager,
    # which a protected service refuses ("workspace mismatch: … != *").
    peer, info = await hb.spawn_peer("hypha", servers[0].url, 900, extra=("--visibility", "public"))
    try:
        same = await client(servers[0].url, info["workspace"], info["token"])
        cross = await client(servers[1].url, info["workspace"], info["token"])
        for label, c in (("same", same), ("cross", cross)):
            try:
                out[label] = await measure(c, info["service_id"], servers, redis, calls)
            except Exception as e:
                hb.log(f"{label}: {type(e).__name__}: {str(e)[:300]}")
        for c in (same, cross):
            await c.disconnect()
    finally:
        await hb.stop_peer(peer)
    try:
        out["kill9"] = await kill9(servers)
    except Exception as e:
        hb.log(f"kill -9: {type(e).__name__}: {str(e)[:300]}")
    return out


async def measure(c, service_id: str, servers: list[hb.Server], redis: Redis, calls: int) -> dict:
    svc = await service_on(c, service_id)
    lat = await hb.seq_latency(svc.echo, "x", 200, calls)
    cmd0, cpu0 = redis.commandstats(), [hb.cpu_seconds(s.proc.pid) for s in servers[:2]]
    tp = await hb.throughput(svc.echo, "x", 32, calls * 5, 5)
    cmd1, cpu1 = redis.commandstats(), [hb.cpu_seconds(s.proc.pid) for s in servers[:2]]
    n = tp["calls"] + tp["inflight"]  # throughput() warms up with one call per slot
    return {
        "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"], "calls_per_s": tp["calls_per_s"],
        "redis_per_call": (sum(cmd1.values()) - sum(cmd0.values())) / n,
        "publish_per_call": (cmd1.get("publish", 0) - cmd0.get("publish", 0)) / n,
        "cpu_us_per_call": [(b - a) / n * 1e6 for a, b in zip(cpu0, cpu1)],
    }


async def kill9(servers: list[hb.Server]) -> dict:
    """kill -9 of server 3 while a caller on server 2 waits on a provider connected to it."""
    provider = await client(servers[2].url)
    workspace = provider.config.workspace
    token = await provider.generate_token()

    async def slow():
        await asyncio.sleep(120)

    await provider.register_service({"id": "slow", "config": {"visibility": "public"}, "slow": slow})
    caller = await client(servers[1].url, workspace, token)
    svc = await service_on(caller, f"{workspace}/{provider.config.client_id}:slow")
    waiting = asyncio.ensure_future(svc.slow())
    await asyncio.sleep(0.5)
    killed = time.monotonic()
    os.killpg(servers[2].proc.pid, signal.SIGKILL)
    purged = released = None
    while time.monotonic() - killed < 60 and (purged is None or released is None):
        if released is None and waiting.done():
            released = time.monotonic() - killed
        if purged is None:
            try:
                ids = [s["id"] for s in await caller.list_services({"workspace": workspace})]
                if not any(i.endswith(":slow") for i in ids):
                    purged = time.monotonic() - killed
            except Exception:
                pass
        await asyncio.sleep(0.05)
    waiting.cancel()
    try:
        await caller.disconnect()
    except Exception:
        pass
    return {"released_s": released, "purged_s": purged}


def row(name: str, values: list[str]) -> str:
    return f"| {name} | " + " | ".join(values) + " |"


def fmt(v, digits=2):
    return "—" if v is None else f"{v:,.{digits}f}"


def render(results: dict) -> None:
    cols = list(results)
    print("| metric | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label in ("same", "cross"):
        name = "same-server call" if label == "same" else "cross-server call"
        g = lambda k, d=3: [fmt(results[c].get(label, {}).get(k), d) if isinstance(results[c], dict) else "n/a" for c in cols]
        print(row(f"{name}: p50 ms", g("p50_ms")))
        print(row(f"{name}: p99 ms", g("p99_ms")))
        print(row(f"{name}: calls/s (32 in flight)", g("calls_per_s", 0)))
        print(row(f"{name}: Redis commands per call (all)", g("redis_per_call", 2)))
        print(row(f"{name}: of which PUBLISH", g("publish_per_call", 2)))
        print(row(f"{name}: CPU µs per call (server 1 / server 2)", [
            " / ".join(fmt(x, 0) for x in results[c].get(label, {}).get("cpu_us_per_call", [])) or "n/a"
            for c in cols]))
    print(row("kill -9: waiting call released after, s", [fmt(results[c].get("kill9", {}).get("released_s")) for c in cols]))
    print(row("kill -9: service purged after, s", [fmt(results[c].get("kill9", {}).get("purged_s")) for c in cols]))


async def run_one(kind: str, start, logdir: str, calls: int) -> dict:
    redis = Redis(logdir, kind)
    servers = []
    try:
        for i in (1, 2, 3):
            servers.append(start(f"{kind}{i}", redis))
        if kind == "python":
            await asyncio.sleep(2)  # let the replicas see each other
        return await flows(servers, redis, calls)
    except Exception as e:  # a column of n/a rather than no table
        hb.log(f"{kind}: {type(e).__name__}: {e}")
        return {"error": str(e)}
    finally:
        for s in servers:
            s.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours-bin", required=True)
    parser.add_argument("--ref-python")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--only", choices=["ours", "python"])
    parser.add_argument("--logdir", default="/tmp")
    opts = parser.parse_args()
    results = {}
    if opts.only in (None, "ours"):
        results["ours"] = asyncio.run(run_one(
            "ours", lambda sid, r: start_ours(opts.ours_bin, sid, r, opts.logdir), opts.logdir, opts.calls))
    if opts.only in (None, "python") and opts.ref_python:
        results["python hypha"] = asyncio.run(run_one(
            "python", lambda sid, r: start_python(opts.ref_python, sid, r, opts.logdir), opts.logdir, opts.calls))
    render(results)


if __name__ == "__main__":
    main()
