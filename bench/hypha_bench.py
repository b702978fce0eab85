#!/usr/bin/env python3
"""Benchmark driver for bench/run.sh: the same hypha-rpc client code against
our Rust `hypha-core-server`, the Python `hypha` server, and a raw WebSocket
relay baseline (bench/relay.py). Numbers are printed, never asserted.

Sub-commands:
  run        start each server, measure, print a Markdown table, write JSON
  echo-peer  (internal) client A: registers `bench.echo` (hypha) or echoes
             raw frames (relay); prints one JSON line, then serves until
             killed or --lifetime seconds have passed

Processes in one measurement: the server, the echo peer (client A) and this
driver (client B) are three separate processes, all on 127.0.0.1.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from importlib import metadata

# hypha-rpc calls logging.basicConfig(stream=sys.stdout); claim the root
# logger first so its warnings go to stderr and stdout stays the table.
logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

HERE = os.path.dirname(os.path.abspath(__file__))
JWT_SECRET = "bench-secret-not-for-production"
SMALL = b"0123456789abcdef"  # 16 bytes
BIG = os.urandom(100 * 1024)  # 100 KiB, incompressible on purpose

SERVERS = ["ours", "python", "relay"]
TITLES = {"ours": "ours (hypha-core-server)", "python": "python hypha", "relay": "raw relay",
          "python_nodeflate": "python hypha, client deflate off"}


def patch_no_deflate():
    """Make hypha-rpc's websockets.connect() offer no permessage-deflate
    (hypha-rpc has no option for it; websockets offers deflate by default)."""
    from hypha_rpc.websocket_client import WebsocketRPCConnection

    orig = WebsocketRPCConnection._ws_connect_kwargs

    def kwargs(self):
        kw = orig(self)
        kw["compression"] = None
        return kw

    WebsocketRPCConnection._ws_connect_kwargs = kwargs


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint_jwt(secret, workspace, sub="bench", ttl=3600):
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "sub": sub,
        "workspace": workspace,
        "roles": [],
        "scope": "",
        "iat": now,
        "exp": now + ttl,
        "iss": "hypha-core",
        "aud": "hypha-api",
    }
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def proc_tree_pids(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def rss_kib(pid):
    total = 0
    for p in proc_tree_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_seconds(pid):
    """utime + stime of the process tree, in seconds."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in proc_tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tck


def pct(sorted_vals, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return None
    k = max(0, math.ceil(q / 100.0 * len(sorted_vals)) - 1)
    return sorted_vals[k]


# --------------------------------------------------------------------------
# server processes
# --------------------------------------------------------------------------


class Server:
    def __init__(self, kind, proc, url, ready_s, health_s, logfile):
        self.kind, self.proc, self.url = kind, proc, url
        self.ready_s, self.health_s, self.logfile = ready_s, health_s, logfile

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)


def _spawn_with_marker(cmd, marker, logpath, timeout, env=None):
    """Spawn cmd, wait for a stdout line starting with marker; keep draining
    stdout (and stderr) into logpath. Returns (proc, line, seconds)."""
    logf = open(logpath, "ab")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL,
        start_new_session=True, env=env,
    )
    found = {}
    ev = threading.Event()

    def reader():
        for raw in proc.stdout:
            if not ev.is_set():
                s = raw.decode(errors="replace").strip()
                if s.startswith(marker):
                    found["line"], found["t"] = s, time.perf_counter()
                    ev.set()
            logf.write(raw)
            logf.flush()
        ev.set()

    threading.Thread(target=reader, daemon=True).start()
    ev.wait(timeout)
    if "line" not in found:
        try:
            rc = proc.wait(2)  # stdout closed: it has most likely exited
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
            raise RuntimeError(f"no {marker} line within {timeout}s")
        raise RuntimeError(f"exited with code {rc} before printing {marker}")
    return proc, found["line"], found["t"] - t0, t0


def start_ours(binary, logdir, n):
    cmd = [binary, "--host", "127.0.0.1", "--port", "0", "--jwt-secret", JWT_SECRET]
    proc, line, ready_s, t0 = _spawn_with_marker(
        cmd, "HYPHA_CORE_SERVER_LISTENING", f"{logdir}/ours-{n}.log", 30
    )
    url = line.split()[1].rstrip("/")
    health_s = None
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        if http_status(url + "/health") == 200:
            health_s = time.perf_counter() - t0
            break
        time.sleep(0.005)
    srv = Server("ours", proc, url, ready_s, health_s, f"{logdir}/ours-{n}.log")
    if health_s is None:
        log("ours: GET /health never returned 200 (continuing)")
    return srv


def start_python(ref_python, logdir, n, health_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        HYPHA_WS_MSG_RATE_LIMIT="10000000",
        HYPHA_WS_MSG_BURST_LIMIT="10000000",
        HYPHA_LOGLEVEL="WARNING",
    )
    logpath = f"{logdir}/python-{n}.log"
    logf = open(logpath, "ab")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [ref_python, "-m", "hypha.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, start_new_session=True,
        env=env, cwd=logdir,
    )
    deadline = t0 + 90
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"python hypha exited with {proc.returncode}, see {logpath}")
        if http_status(url + health_path, timeout=0.5) == 200:
            s = time.perf_counter() - t0
            return Server("python", proc, url, s, s, logpath)
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"python hypha: {health_path} not 200 within 90s")


def start_relay(logdir, n):
    cmd = [sys.executable, os.path.join(HERE, "relay.py"), "--host", "127.0.0.1", "--port", "0"]
    proc, line, ready_s, _ = _spawn_with_marker(cmd, "RELAY_LISTENING", f"{logdir}/relay-{n}.log", 20)
    return Server("relay", proc, line.split()[1], ready_s, None, f"{logdir}/relay-{n}.log")


# --------------------------------------------------------------------------
# echo peer (client A), run as its own process
# --------------------------------------------------------------------------


async def echo_peer(args):
    lifetime = args.lifetime
    if args.kind == "raw":
        from websockets.asyncio.client import connect

        async with connect(args.url + "/peer", compression=None, max_size=None,
                           ping_interval=None) as ws:
            print(json.dumps({"ok": True}), flush=True)

            async def loop():
                async for msg in ws:
                    await ws.send(msg)

            try:
                await asyncio.wait_for(loop(), lifetime)
            except asyncio.TimeoutError:
                pass
        return

    from hypha_rpc import connect_to_server

    if args.no_deflate:
        patch_no_deflate()
    server = await connect_to_server({"server_url": args.url, "method_timeout": 60})
    workspace = server.config.workspace

    def echo(x):
        return x

    info = await server.register_service(
        {"id": "bench", "name": "bench", "config": {"visibility": "protected"}, "echo": echo}
    )
    token, token_source = None, None
    try:
        token = await server.generate_token()
        token_source = "generate_token()"
    except Exception as e:  # fall back to a token we mint ourselves
        if args.jwt_secret:
            token = mint_jwt(args.jwt_secret, workspace)
            token_source = f"self-minted HS256 (generate_token failed: {str(e)[:120]})"
        else:
            print(json.dumps({"ok": False, "error": f"generate_token failed: {e}"}), flush=True)
            return
    print(json.dumps({
        "ok": True, "workspace": workspace, "token": token,
        "service_id": info["id"] if isinstance(info, dict) else info.id,
        "token_source": token_source,
    }), flush=True)
    await asyncio.sleep(lifetime)


# --------------------------------------------------------------------------
# measurements (identical for every transport; only `call` differs)
# --------------------------------------------------------------------------


async def seq_latency(call, arg, warmup, n):
    for _ in range(warmup):
        await call(arg)
    lat = []
    pc = time.perf_counter
    for _ in range(n):
        t = pc()
        await call(arg)
        lat.append((pc() - t) * 1000.0)
    lat.sort()
    return {"p50_ms": statistics.median(lat), "p99_ms": pct(lat, 99), "n": n}


async def throughput(call, arg, inflight, max_calls, max_secs):
    # short warm-up at the same concurrency
    await asyncio.gather(*[call(arg) for _ in range(inflight)])
    state = {"started": 0, "done": 0}
    t0 = time.perf_counter()
    deadline = t0 + max_secs

    async def worker():
        while state["started"] < max_calls and time.perf_counter() < deadline:
            state["started"] += 1
            await call(arg)
            state["done"] += 1

    await asyncio.wait_for(asyncio.gather(*[worker() for _ in range(inflight)]), max_secs + 60)
    el = time.perf_counter() - t0
    return {"calls_per_s": state["done"] / el, "calls": state["done"], "secs": el,
            "inflight": inflight}


async def measure_all(call, quick):
    k = 0.2 if quick else 1.0
    res = {}
    # correctness check first
    for name, arg in (("small", SMALL), ("100KiB", BIG)):
        got = await call(arg)
        if bytes(got) != arg:
            raise RuntimeError(f"echo({name}) returned a different value ({type(got)})")
    steps = [
        ("seq_small", lambda: seq_latency(call, SMALL, int(200 * k), int(2000 * k))),
        ("conc_small", lambda: throughput(call, SMALL, 32, int(5000 * k), 3.0 * k)),
        ("seq_100k", lambda: seq_latency(call, BIG, int(20 * k) or 2, int(200 * k))),
        ("conc_100k", lambda: throughput(call, BIG, 32, int(3000 * k), 3.0 * k)),
    ]
    for key, fn in steps:
        try:
            res[key] = await asyncio.wait_for(fn(), 120)
        except Exception as e:
            res[key] = {"error": f"{type(e).__name__}: {e}"[:200]}
        log(f"  {key}: {res[key]}")
    return res


async def spawn_peer(kind, url, lifetime, no_deflate=False):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "echo-peer", "--kind", kind,
        "--url", url, "--jwt-secret", JWT_SECRET, "--lifetime", str(lifetime),
        *(["--no-deflate"] if no_deflate else []),
        stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
    except asyncio.TimeoutError:
        proc.kill()
        raise RuntimeError("echo peer did not report within 60s")
    if not line:
        await proc.wait()
        raise RuntimeError(f"echo peer exited ({proc.returncode}) without reporting")
    info = json.loads(line)
    if not info.get("ok"):
        proc.kill()
        raise RuntimeError(f"echo peer failed: {info.get('error')}")
    return proc, info


async def stop_peer(proc):
    if proc.returncode is None:
        try:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
        except (ProcessLookupError, asyncio.TimeoutError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass


async def bench_hypha(url, quick, no_deflate=False):
    from hypha_rpc import connect_to_server

    if no_deflate:
        patch_no_deflate()
    out = {}
    peer, info = await spawn_peer("hypha", url, 600, no_deflate)
    out["token_source"] = info["token_source"]
    try:
        server = await connect_to_server({
            "server_url": url, "workspace": info["workspace"], "token": info["token"],
            "method_timeout": 60,
        })
        try:
            try:
                ws = server.rpc._connection._websocket
                out["ws_extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions") or "none"
            except Exception as e:
                out["ws_extensions"] = f"unknown ({type(e).__name__})"
            svc = await server.get_service(info["service_id"])
            out.update(await measure_all(svc.echo, quick))
        finally:
            try:
                await asyncio.wait_for(server.disconnect(), 10)
            except Exception:
                pass
    finally:
        await stop_peer(peer)
    return out


async def bench_raw(url, quick):
    from websockets.asyncio.client import connect

    out = {}
    peer, _ = await spawn_peer("raw", url, 600)
    try:
        async with connect(url + "/client", compression=None, max_size=None,
                           ping_interval=None) as ws:
            out["ws_extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions") or "none"
            await asyncio.sleep(0.2)  # let the relay register the peer first
            pending = __import__("collections").deque()
            lock = asyncio.Lock()

            async def reader():
                async for msg in ws:
                    pending.popleft().set_result(msg)

            rtask = asyncio.create_task(reader())

            async def call(x):
                fut = asyncio.get_running_loop().create_future()
                async with lock:
                    pending.append(fut)
                    await ws.send(x)
                return await fut

            try:
                out.update(await measure_all(call, quick))
            finally:
                rtask.cancel()
    finally:
        await stop_peer(peer)
    return out


# --------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------


def run_server_column(kind, starter, bench_coro, n_starts, quick):
    col = {}
    startups, healths, srv = [], [], None
    try:
        for i in range(n_starts):
            if srv is not None:
                srv.stop()
            srv = starter(i)
            startups.append(srv.ready_s * 1000)
            if srv.health_s is not None:
                healths.append(srv.health_s * 1000)
            time.sleep(0.3)
        col["startup_ms_all"] = startups
        col["startup_ms"] = statistics.median(startups)
        if healths:
            col["startup_to_health_ms"] = statistics.median(healths)
        col["url"] = srv.url
        col["rss_idle_kib"] = rss_kib(srv.proc.pid)
        log(f"{kind}: up at {srv.url}, start-up {col['startup_ms']:.0f} ms; benchmarking")
        cpu0, wall0 = cpu_seconds(srv.proc.pid), time.perf_counter()
        try:
            col.update(asyncio.run(asyncio.wait_for(bench_coro(srv.url, quick), 240)))
        except Exception as e:
            col["error"] = f"{type(e).__name__}: {e}"[:300]
            log(f"{kind}: benchmark failed: {col['error']}")
        if srv.proc.poll() is None:
            col["rss_after_kib"] = rss_kib(srv.proc.pid)
            col["server_cpu_s"] = cpu_seconds(srv.proc.pid) - cpu0
            col["bench_wall_s"] = time.perf_counter() - wall0
        else:
            col["error"] = col.get("error", "") + f" (server exited with {srv.proc.returncode})"
    except Exception as e:
        col["error"] = f"{type(e).__name__}: {e}"[:300]
        log(f"{kind}: {col['error']}")
    finally:
        if srv is not None:
            srv.stop()
            col["log"] = srv.logfile
    return col


def detect_python_health(ref_python, logdir):
    """Start the Python server once and see which health endpoint exists."""
    srv = start_python(ref_python, logdir, "probe", "/health/liveness")
    try:
        for p in ("/health/liveness", "/health/readiness", "/health"):
            if http_status(srv.url + p) == 200:
                return p
        return "/health/liveness"
    finally:
        srv.stop()


def ref_versions(ref_python):
    code = (
        "import json,sys;from importlib import metadata as m;"
        "print(json.dumps({k:m.version(k) for k in ('hypha','hypha-rpc','websockets','uvicorn','sqlmodel')}"
        "|{'python':sys.version.split()[0]}))"
    )
    try:
        return json.loads(subprocess.check_output([ref_python, "-c", code], timeout=60))
    except Exception as e:
        return {"error": str(e)}


def fmt(v, digits=2):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def cell(col, getter, digits=2):
    if "na" in col:
        return col["na"]
    try:
        v = getter(col)
    except (KeyError, TypeError):
        v = None
    if v is None:
        return "error" if "error" in col else "—"
    return fmt(v, digits)


def metric(key, field):
    def g(c):
        m = c.get(key)
        if m is None:
            return None
        if "error" in m:
            return "error: " + m["error"][:60]
        return m[field]
    return g


ROWS = [
    ("echo small (16 B), sequential p50 (ms)", metric("seq_small", "p50_ms"), 3),
    ("echo small (16 B), sequential p99 (ms)", metric("seq_small", "p99_ms"), 3),
    ("echo small, 32 in flight (calls/s)", metric("conc_small", "calls_per_s"), 0),
    ("echo 100 KiB, sequential p50 (ms)", metric("seq_100k", "p50_ms"), 3),
    ("echo 100 KiB, sequential p99 (ms)", metric("seq_100k", "p99_ms"), 3),
    ("echo 100 KiB, 32 in flight (calls/s)", metric("conc_100k", "calls_per_s"), 0),
    ("server RSS idle after start (MiB)", lambda c: c.get("rss_idle_kib") and c["rss_idle_kib"] / 1024, 1),
    ("server RSS after run (MiB)", lambda c: c.get("rss_after_kib") and c["rss_after_kib"] / 1024, 1),
    ("server CPU used during the run (% of one core)",
     lambda c: c.get("bench_wall_s") and 100.0 * c["server_cpu_s"] / c["bench_wall_s"], 0),
    ("start-up to ready (ms, median of 3)", lambda c: c.get("startup_ms"), 0),
    ("permessage-deflate (client B's handshake)", lambda c: c.get("ws_extensions"), 0),
    ("same-workspace token", lambda c: c.get("token_source", "n/a"), 0),
]


def render(results, versions, opts):
    cols = SERVERS
    lines = []
    lines.append("| metric | " + " | ".join(TITLES[c] for c in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for title, getter, digits in ROWS:
        lines.append(f"| {title} | " + " | ".join(cell(results[c], getter, digits) for c in cols) + " |")
    out = ["", "## Hypha echo benchmark" + (" (QUICK mode: reduced counts)" if opts.quick else ""), ""]
    out += lines
    out.append("")
    out.append("Start-up: ours = spawn → HYPHA_CORE_SERVER_LISTENING line; python hypha = spawn → "
               f"first 200 from {results['python'].get('health_path', '?')}; relay = spawn → RELAY_LISTENING line.")
    if "startup_to_health_ms" in results["ours"]:
        out.append(f"ours spawn → first GET /health 200: {results['ours']['startup_to_health_ms']:.0f} ms (median).")
    errs = [(c, results[c]["error"]) for c in cols if results[c].get("error")]
    for c, e in errs:
        out.append(f"- {TITLES[c]} error: {e}")
    out.append("")
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(out)


LOAD_AT_START = os.getloadavg()


def cmd_run(opts):
    os.makedirs(opts.logdir, exist_ok=True)
    if opts.ref_python:
        opts.ref_python = os.path.abspath(opts.ref_python)
    if opts.ours_bin:
        opts.ours_bin = os.path.abspath(opts.ours_bin)
    results = {}
    n = 3
    log(f"logs in {opts.logdir}")

    # ---- ours
    if not opts.ours_bin:
        results["ours"] = {"na": opts.ours_na or "n/a (binary not built)"}
    else:
        results["ours"] = run_server_column(
            "ours", lambda i: start_ours(opts.ours_bin, opts.logdir, i), bench_hypha, n, opts.quick)
        results["ours"]["binary"] = opts.ours_bin
        if "startup_ms" not in results["ours"]:
            results["ours"]["na"] = "n/a (" + results["ours"].get("error", "failed")[:80] + ")"

    # ---- python hypha
    if not opts.ref_python:
        results["python"] = {"na": "n/a (no reference venv)"}
    else:
        try:
            hp = detect_python_health(opts.ref_python, opts.logdir)
            log(f"python hypha health endpoint: {hp}")
            results["python"] = run_server_column(
                "python", lambda i: start_python(opts.ref_python, opts.logdir, i, hp),
                bench_hypha, n, opts.quick)
            results["python"]["health_path"] = hp
        except Exception as e:
            results["python"] = {"na": f"n/a ({e})"[:100], "error": str(e)}
        if "startup_ms" not in results["python"] and "na" not in results["python"]:
            results["python"]["na"] = "n/a (" + results["python"].get("error", "failed")[:80] + ")"

    # ---- optional: python hypha with permessage-deflate not offered by the clients
    if opts.python_nodeflate and "na" not in results["python"]:
        hp = results["python"]["health_path"]
        results["python_nodeflate"] = run_server_column(
            "python_nodeflate", lambda i: start_python(opts.ref_python, opts.logdir, f"nd{i}", hp),
            lambda url, quick: bench_hypha(url, quick, no_deflate=True), n, opts.quick)
        SERVERS.insert(2, "python_nodeflate")

    # ---- relay
    results["relay"] = run_server_column(
        "relay", lambda i: start_relay(opts.logdir, i), bench_raw, n, opts.quick)
    results["relay"]["token_source"] = "n/a (raw)"

    versions = {"client python": platform.python_version()}
    for pkg in ("hypha-rpc", "websockets"):
        try:
            versions[f"client {pkg}"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    if opts.ref_python:
        rv = ref_versions(opts.ref_python)
        for k, v in rv.items():
            versions[f"server {k}"] = v
    versions["cpus"] = os.cpu_count()
    versions["loadavg at start"] = "%.2f %.2f %.2f" % LOAD_AT_START

    print(render(results, versions, opts))
    doc = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": opts.quick,
        "units": {"p50_ms": "ms", "calls_per_s": "calls/s", "rss_*_kib": "KiB", "startup_ms": "ms"},
        "payloads": {"small": len(SMALL), "big": len(BIG)},
        "versions": versions,
        "servers": results,
    }
    with open(opts.out, "w") as f:
        json.dump(doc, f, indent=2, default=str)
    log(f"wrote {opts.out}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--ours-bin", default="")
    r.add_argument("--ours-na", default="")
    r.add_argument("--ref-python", default="")
    r.add_argument("--out", default=os.path.join(HERE, "results.json"))
    r.add_argument("--logdir", default="/tmp/hypha-bench-logs")
    r.add_argument("--quick", action="store_true")
    r.add_argument("--python-nodeflate", action="store_true",
                   help="extra column: python hypha with clients not offering permessage-deflate")
    e = sub.add_parser("echo-peer")
    e.add_argument("--kind", choices=["hypha", "raw"], required=True)
    e.add_argument("--url", required=True)
    e.add_argument("--jwt-secret", default="")
    e.add_argument("--lifetime", type=float, default=600)
    e.add_argument("--no-deflate", action="store_true")
    opts = ap.parse_args()
    if opts.cmd == "run":
        cmd_run(opts)
    else:
        try:
            asyncio.run(echo_peer(opts))
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
