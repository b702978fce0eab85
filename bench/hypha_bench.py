#!/usr/bin/env python3
"""Benchmark driver for bench/run.sh: the same hypha-rpc client code against
our Rust `hypha-core-server`, the Python `hypha` server, and a raw WebSocket
relay baseline (bench/relay.py). Numbers are printed, never asserted.

Sub-commands:
  run          start each server, measure, print a Markdown table, write JSON
  echo-peer    (internal) client A: registers `bench.echo` (hypha) or echoes
               raw frames (relay); prints one JSON line, then serves until
               killed or --lifetime seconds have passed
  load-client  (internal) one measuring process of the "over 4 client
               processes" rows: connects like client B, then for each
               `go PHASE START END` line on stdin keeps --inflight calls in
               flight and reports (as a `@@ {json}` line on stdout) how many
               completed between the monotonic times START and END

Processes in the single-client measurements: the server, the echo peer
(client A) and this driver (client B) are three separate processes, all on
127.0.0.1. In the "over 4 client processes" measurements: the server, 4 echo
peers and 4 load-clients (each paired with its own peer), plus this driver,
which only coordinates and samples CPU.
"""

import argparse
import asyncio
import base64
import collections
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

# the "over N client processes" rows: N measuring processes, each paired with
# its own echo peer process, each keeping FANOUT_INFLIGHT calls in flight
FANOUT_PROCS = 4
FANOUT_INFLIGHT = 8
LOGDIR = None  # set by `run`; stderr of the fan-out processes goes there

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

        async with connect(args.url + "/peer" + (f"/{args.key}" if args.key else ""),
                           compression=None, max_size=None, ping_interval=None) as ws:
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
    cfg = {"server_url": args.url, "method_timeout": 60}
    if args.token:  # join an existing workspace (the extra peers of the fan-out rows)
        cfg.update(workspace=args.workspace, token=args.token)
    server = await connect_to_server(cfg)
    workspace = server.config.workspace

    def echo(x):
        return x

    info = await server.register_service(
        {"id": "bench", "name": "bench", "config": {"visibility": args.visibility}, "echo": echo}
    )
    service_id = info["id"] if isinstance(info, dict) else info.id
    if args.token:
        print(json.dumps({"ok": True, "workspace": workspace, "service_id": service_id}), flush=True)
        await asyncio.sleep(lifetime)
        return
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
        "service_id": service_id,
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


async def spawn_peer(kind, url, lifetime, no_deflate=False, extra=(), stderr=None):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "echo-peer", "--kind", kind,
        "--url", url, "--jwt-secret", JWT_SECRET, "--lifetime", str(lifetime),
        *(["--no-deflate"] if no_deflate else []), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=stderr, start_new_session=True,
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


def raw_caller(ws):
    """call(x): send one frame on ws, await the next reply (replies come back
    in order, so calls can be pipelined). Returns (call, reader task)."""
    pending = collections.deque()
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

    return call, rtask


async def bench_raw(url, quick):
    from websockets.asyncio.client import connect

    out = {}
    peer, _ = await spawn_peer("raw", url, 600)
    try:
        async with connect(url + "/client", compression=None, max_size=None,
                           ping_interval=None) as ws:
            out["ws_extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions") or "none"
            await asyncio.sleep(0.2)  # let the relay register the peer first
            call, rtask = raw_caller(ws)
            try:
                out.update(await measure_all(call, quick))
            finally:
                rtask.cancel()
    finally:
        await stop_peer(peer)
    return out


# --------------------------------------------------------------------------
# "over N client processes": load-client (one measuring process) and the
# coordinator that runs N of them, each against its own echo peer
# --------------------------------------------------------------------------

PHASE_ARGS = {"small": SMALL, "100KiB": BIG}


def emit(obj):
    print("@@ " + json.dumps(obj), flush=True)


async def timed_window(call, arg, inflight, start, end):
    """Keep `inflight` calls going from now until `end` (monotonic clock, the
    same in every process); count the calls that complete in [start, end].
    Everything before `start` is warm-up; calls still in flight at `end` are
    awaited but not counted."""
    mono = time.monotonic
    st = {"calls": 0, "errors": 0, "first_error": None}
    late = max(0.0, mono() - start)

    async def worker():
        while mono() < end:
            try:
                await call(arg)
            except Exception as e:
                st["errors"] += 1
                st["first_error"] = st["first_error"] or f"{type(e).__name__}: {e}"[:200]
                if st["errors"] > 50:
                    return
                continue
            if start <= mono() <= end:
                st["calls"] += 1

    await asyncio.wait_for(asyncio.gather(*[worker() for _ in range(inflight)]),
                           max(0.0, end - mono()) + 60)
    return {"calls": st["calls"], "errors": st["errors"], "first_error": st["first_error"],
            "calls_per_s": st["calls"] / (end - start), "late_s": late}


async def load_client(args):
    close = None
    try:
        if args.kind == "raw":
            from websockets.asyncio.client import connect

            ws = await connect(args.url + "/client/" + args.key, compression=None,
                               max_size=None, ping_interval=None)
            await asyncio.sleep(0.2)  # let the relay register the peer first
            call, _ = raw_caller(ws)
            close = ws.close
        else:
            from hypha_rpc import connect_to_server

            if args.no_deflate:
                patch_no_deflate()
            server = await connect_to_server({
                "server_url": args.url, "workspace": args.workspace, "token": args.token,
                "method_timeout": 60,
            })
            close = server.disconnect
            svc = await server.get_service(args.service_id)
            call = svc.echo
        for name, arg in PHASE_ARGS.items():
            got = await asyncio.wait_for(call(arg), 30)
            if bytes(got) != arg:
                raise RuntimeError(f"echo({name}) returned a different value ({type(got)})")
    except Exception as e:
        emit({"ready": False, "error": f"{type(e).__name__}: {e}"[:300]})
        return
    emit({"ready": True})
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        parts = line.split()
        if len(parts) != 4 or parts[0] != "go":
            break
        _, phase, start, end = parts
        try:
            emit(await timed_window(call, PHASE_ARGS[phase], args.inflight, float(start), float(end)))
        except Exception as e:
            emit({"error": f"{type(e).__name__}: {e}"[:300]})
    try:
        await asyncio.wait_for(close(), 10)
    except Exception:
        pass


async def read_marked(proc, timeout):
    """Next `@@ {json}` line from a load-client (other stdout lines are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), max(0.1, deadline - time.monotonic()))
        if not line:
            raise RuntimeError(f"load-client exited ({await proc.wait()}) without reporting")
        s = line.decode(errors="replace").strip()
        if s.startswith("@@ "):
            return json.loads(s[3:])


def machine_busy_seconds():
    """CPU time all cores spent not idle since boot (/proc/stat), in seconds."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def runnable_now():
    """Runnable threads system-wide right now (4th field of /proc/loadavg),
    not counting the reader itself."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return None


async def fanout(url, quick, server_pid, kind="hypha", no_deflate=False):
    """FANOUT_PROCS echo peers + FANOUT_PROCS load-clients (client i calls peer
    i's `bench` service, or uses relay pair i), all in one workspace; every
    phase starts at the same instant in all of them. Returns fan_<phase>."""
    n, per = FANOUT_PROCS, FANOUT_INFLIGHT
    warm, window = (0.3, 1.0) if quick else (1.0, 4.0)
    me = os.path.abspath(__file__)
    nd = ["--no-deflate"] if no_deflate else []
    errlog = open(os.path.join(LOGDIR or "/tmp", f"fanout-{kind}{'-nd' if no_deflate else ''}.log"), "ab")
    out = {"fanout": {"procs": n, "inflight_per_proc": per, "warmup_s": warm, "window_s": window}}
    peers, clients = [], []
    try:
        if kind == "hypha":
            p0, info0 = await spawn_peer("hypha", url, 600, no_deflate, stderr=errlog)
            peers.append(p0)
            ws, tok = info0["workspace"], info0["token"]
            rest = await asyncio.gather(*[
                spawn_peer("hypha", url, 600, no_deflate, ["--workspace", ws, "--token", tok], errlog)
                for _ in range(n - 1)], return_exceptions=True)
            for r in rest:
                if not isinstance(r, BaseException):
                    peers.append(r[0])
            for r in rest:
                if isinstance(r, BaseException):
                    raise RuntimeError(f"extra echo peer: {r}")
            sids = [info0["service_id"]] + [r[1]["service_id"] for r in rest]
            out["fanout"]["service_ids"] = sids
            cargs = [["--workspace", ws, "--token", tok, "--service-id", sid] for sid in sids]
        else:
            rest = await asyncio.gather(*[
                spawn_peer("raw", url, 600, extra=["--key", f"k{i}"], stderr=errlog)
                for i in range(n)], return_exceptions=True)
            for r in rest:
                if not isinstance(r, BaseException):
                    peers.append(r[0])
            for r in rest:
                if isinstance(r, BaseException):
                    raise RuntimeError(f"raw echo peer: {r}")
            cargs = [["--key", f"k{i}"] for i in range(n)]
        for a in cargs:
            clients.append(await asyncio.create_subprocess_exec(
                sys.executable, me, "load-client", "--kind", kind, "--url", url,
                "--inflight", str(per), *nd, *a,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=errlog,
                start_new_session=True))
        ready = await asyncio.gather(*[read_marked(c, 90) for c in clients])
        bad = [r.get("error") for r in ready if not r.get("ready")]
        if bad:
            raise RuntimeError(f"load-client not ready: {bad[0]}")
        children = [p.pid for p in peers + clients]
        for phase in PHASE_ARGS:
            key = "fan_" + phase
            try:
                start = time.monotonic() + warm
                end = start + window
                for c in clients:
                    c.stdin.write(f"go {phase} {start!r} {end!r}\n".encode())
                    await c.stdin.drain()
                await asyncio.sleep(max(0.0, start - time.monotonic()))
                m0, me0 = machine_busy_seconds(), time.process_time()
                s0, k0, t0 = cpu_seconds(server_pid), sum(map(cpu_seconds, children)), time.monotonic()
                runnable = []
                while time.monotonic() < end - 0.1:
                    await asyncio.sleep(0.1)
                    runnable.append(runnable_now())
                await asyncio.sleep(max(0.0, end - time.monotonic()))
                s1, k1, t1 = cpu_seconds(server_pid), sum(map(cpu_seconds, children)), time.monotonic()
                m1, me1 = machine_busy_seconds(), time.process_time()
                res = await asyncio.gather(*[read_marked(c, window + 90) for c in clients])
                errs = [r["error"] for r in res if "error" in r]
                if errs:
                    raise RuntimeError(errs[0])
                runnable = [r for r in runnable if r is not None]
                out[key] = {
                    "calls_per_s": sum(r["calls"] for r in res) / window,
                    "calls": sum(r["calls"] for r in res),
                    "per_proc_calls_per_s": [r["calls_per_s"] for r in res],
                    "errors": sum(r["errors"] for r in res),
                    "first_error": next((r["first_error"] for r in res if r["first_error"]), None),
                    "max_late_start_s": max(r["late_s"] for r in res),
                    "server_cpu_pct": 100.0 * (s1 - s0) / (t1 - t0),
                    "clients_cpu_pct": 100.0 * (k1 - k0) / (t1 - t0),
                    "server_cpu_us_per_call": (1e6 * (s1 - s0) / (t1 - t0)
                                               / (sum(r["calls"] for r in res) / window))
                    if sum(r["calls"] for r in res) else None,
                    # everything else: machine busy minus server, the 8 clients and this driver
                    "others_cpu_pct": None if m0 is None or m1 is None else max(0.0, 100.0 * (
                        (m1 - m0) - (s1 - s0) - (k1 - k0) - (me1 - me0)) / (t1 - t0)),
                    "runnable_mean": statistics.mean(runnable) if runnable else None,
                    "loadavg_after": "%.2f %.2f %.2f" % os.getloadavg(),
                }
            except Exception as e:
                out[key] = {"error": f"{type(e).__name__}: {e}"[:200]}
            log(f"  {key}: {out[key]}")
    except Exception as e:
        out["fanout_error"] = f"{type(e).__name__}: {e}"[:300]
        log(f"  fan-out: {out['fanout_error']}")
    finally:
        for c in clients:
            try:
                c.stdin.write(b"quit\n")
                await c.stdin.drain()
                c.stdin.close()
            except Exception:
                pass
        for c in clients:
            try:
                await asyncio.wait_for(c.wait(), 15)
            except asyncio.TimeoutError:
                pass
            await stop_peer(c)
        for p in peers:
            await stop_peer(p)
        errlog.close()
    return out


# --------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------


def run_server_column(kind, starter, bench_coro, n_starts, quick, fanout_coro=None):
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
        # then, on the same server instance, the "over N client processes" rows
        # (after the RSS / CPU above, so those rows stay single-client only)
        if fanout_coro is not None and srv.proc.poll() is None:
            log(f"{kind}: {FANOUT_PROCS} client processes x {FANOUT_INFLIGHT} in flight, "
                f"each with its own echo peer")
            try:
                col.update(asyncio.run(asyncio.wait_for(
                    fanout_coro(srv.url, quick, srv.proc.pid), 240)))
            except Exception as e:
                col["fanout_error"] = f"{type(e).__name__}: {e}"[:300]
                log(f"{kind}: fan-out failed: {col['fanout_error']}")
            if srv.proc.poll() is not None:
                col["fanout_error"] = (col.get("fanout_error", "")
                                       + f" (server exited with {srv.proc.returncode})")
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


def fan(key, field, digits=0):
    """Getter for the fan-out rows; failures show as 'error: ...'."""
    def g(c):
        m = c.get(key)
        if m is None:
            return ("error: " + c["fanout_error"][:60]) if "fanout_error" in c else None
        if "error" in m:
            return "error: " + m["error"][:60]
        v = m.get(field)
        if field == "calls_per_s" and m.get("errors"):
            return f"{v:,.{digits}f} ({m['errors']} failed calls)"
        return v
    return g


def fan_load(c):
    m = c.get("fan_100KiB") or c.get("fan_small")
    if m is None:
        return None
    if "error" in m:
        return "error: " + m["error"][:60]
    r = m.get("runnable_mean")
    return m["loadavg_after"] + ("" if r is None else f" (runnable ≈ {r:.1f})")


ROWS = [
    ("echo small (16 B), sequential p50 (ms)", metric("seq_small", "p50_ms"), 3),
    ("echo small (16 B), sequential p99 (ms)", metric("seq_small", "p99_ms"), 3),
    ("echo small, 32 in flight (calls/s)", metric("conc_small", "calls_per_s"), 0),
    ("echo 100 KiB, sequential p50 (ms)", metric("seq_100k", "p50_ms"), 3),
    ("echo 100 KiB, sequential p99 (ms)", metric("seq_100k", "p99_ms"), 3),
    ("echo 100 KiB, 32 in flight (calls/s)", metric("conc_100k", "calls_per_s"), 0),
    (f"echo small, {FANOUT_PROCS * FANOUT_INFLIGHT} in flight over {FANOUT_PROCS} client processes (calls/s)",
     fan("fan_small", "calls_per_s"), 0),
    (f"echo 100 KiB, {FANOUT_PROCS * FANOUT_INFLIGHT} in flight over {FANOUT_PROCS} client processes (calls/s)",
     fan("fan_100KiB", "calls_per_s"), 0),
    (f"server CPU, echo small over {FANOUT_PROCS} client processes (% of one core)",
     fan("fan_small", "server_cpu_pct"), 0),
    (f"server CPU, echo 100 KiB over {FANOUT_PROCS} client processes (% of one core)",
     fan("fan_100KiB", "server_cpu_pct"), 0),
    (f"server CPU time per call over {FANOUT_PROCS} client processes, small / 100 KiB (µs)",
     lambda c: (None if "fan_small" not in c and "fan_100KiB" not in c else
                " / ".join(fmt(fan(k, "server_cpu_us_per_call")(c), 0) for k in ("fan_small", "fan_100KiB"))), 0),
    (f"the {2 * FANOUT_PROCS} client processes' CPU, small / 100 KiB (% of one core, summed)",
     lambda c: (None if "fan_small" not in c and "fan_100KiB" not in c else
                " / ".join(fmt(fan(k, "clients_cpu_pct")(c), 0) for k in ("fan_small", "fan_100KiB"))), 0),
    ("CPU of all other processes on the machine, small / 100 KiB (% of one core)",
     lambda c: (None if "fan_small" not in c and "fan_100KiB" not in c else
                " / ".join(fmt(fan(k, "others_cpu_pct")(c), 0) for k in ("fan_small", "fan_100KiB"))), 0),
    (f"load average after the {FANOUT_PROCS}-process phases (1 / 5 / 15 min)", fan_load, 0),
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
    global LOGDIR
    LOGDIR = opts.logdir
    results = {}
    n = 3
    log(f"logs in {opts.logdir}")

    # ---- ours
    if not opts.ours_bin:
        results["ours"] = {"na": opts.ours_na or "n/a (binary not built)"}
    else:
        results["ours"] = run_server_column(
            "ours", lambda i: start_ours(opts.ours_bin, opts.logdir, i), bench_hypha, n, opts.quick,
            fanout)
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
                bench_hypha, n, opts.quick, fanout)
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
            lambda url, quick: bench_hypha(url, quick, no_deflate=True), n, opts.quick,
            lambda url, quick, pid: fanout(url, quick, pid, no_deflate=True))
        SERVERS.insert(2, "python_nodeflate")

    # ---- relay
    results["relay"] = run_server_column(
        "relay", lambda i: start_relay(opts.logdir, i), bench_raw, n, opts.quick,
        lambda url, quick, pid: fanout(url, quick, pid, kind="raw"))
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
    e.add_argument("--key", default="", help="raw: relay pair key")
    e.add_argument("--workspace", default="", help="hypha: join this workspace (with --token)")
    e.add_argument("--token", default="", help="hypha: join with this token; no generate_token()")
    e.add_argument("--visibility", default="protected", help="hypha: the echo service's visibility")
    lc = sub.add_parser("load-client")
    lc.add_argument("--kind", choices=["hypha", "raw"], required=True)
    lc.add_argument("--url", required=True)
    lc.add_argument("--inflight", type=int, default=FANOUT_INFLIGHT)
    lc.add_argument("--no-deflate", action="store_true")
    lc.add_argument("--key", default="", help="raw: relay pair key")
    lc.add_argument("--workspace", default="")
    lc.add_argument("--token", default="")
    lc.add_argument("--service-id", default="")
    opts = ap.parse_args()
    if opts.cmd == "run":
        cmd_run(opts)
    else:
        try:
            asyncio.run(echo_peer(opts) if opts.cmd == "echo-peer" else load_client(opts))
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
