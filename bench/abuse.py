"""Load and abuse figures for hypha-core-server (loopback only, every loop bounded).

    .venv/bin/python bench/abuse.py [--server target/release/hypha-core-server] [--quick]

Prints, for a fresh server each time:
- RSS per idle connection (N authenticated WebSocket clients that only stay connected);
- RSS before and after 10,000 clients connect, register a service and leave (in waves);
- RSS per small service record (50,000 of them);
- under each attack: the time a normal client needs to connect and call the manager (worst of
  several probes), the server's peak RSS, and what became of the attacking sockets.

Attacks: half-sent HTTP requests; more connections than the limit; clients that stop reading
while another floods them; `message_cache` uploads never processed; oversized and numerous
service records; a listing asked for over and over by a client that never reads; large events
to many subscribers that never read; a client sending small frames as fast as it can; frames
pushed at a client of another workspace; oversized hellos; 50,000 services listed at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
import time

import msgpack
import websockets
from hypha_rpc import connect_to_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 * 1024


# ---------------------------------------------------------------- the server


class Server:
    def __init__(self, binary: str, *args: str):
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", "0", "--jwt-secret", secrets.token_hex(16), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "error"},
        )
        line = b""
        deadline = time.monotonic() + 20
        while b"HYPHA_CORE_SERVER_LISTENING" not in line and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
        self.url = re.search(rb"(http://\S+)", line).group(1).decode()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.ws = self.url.replace("http://", "ws://") + "/ws"
        self.peak = self.rss()

    def rss(self) -> int:
        """Resident set size in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    async def watch_peak(self, stop: asyncio.Event):
        while not stop.is_set():
            self.peak = max(self.peak, self.rss())
            await asyncio.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def probe(url: str) -> float:
    """Seconds for a fresh client to connect and call the manager (10 s if it cannot)."""
    started = time.monotonic()
    try:
        client = await asyncio.wait_for(connect_to_server({"server_url": url}), timeout=10)
        try:
            await asyncio.wait_for(client.echo("ping"), timeout=10)
        finally:
            await client.disconnect()
    except Exception:
        return 10.0
    return time.monotonic() - started


async def hello(server: Server, **fields) -> tuple[websockets.ClientConnection, dict]:
    ws = await websockets.connect(server.ws, max_size=None, **fields.pop("options", {}))
    await ws.send(json.dumps({"client_id": "c" + secrets.token_hex(6), **fields}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), timeout=10))


def call(to: str, method: str, session: str | None, args: list) -> bytes:
    main = {"type": "method", "to": to, "method": method}
    if session:
        main["session"] = session
    extra = {"args": args}
    if session:
        extra["promise"] = "*"
    return msgpack.packb(main) + msgpack.packb(extra)


# ---------------------------------------------------------------- figures


async def idle_cost(binary: str, n: int) -> dict:
    server = Server(binary)
    try:
        await asyncio.sleep(0.5)
        before = server.rss()
        sockets = []
        for _ in range(n):
            ws, _ = await hello(server)
            sockets.append(ws)
        await asyncio.sleep(1)
        after = server.rss()
        for ws in sockets:
            await ws.close()
        return {"connections": n, "rss_before_kib": before, "rss_after_kib": after,
                "kib_per_connection": round((after - before) / n, 1)}
    finally:
        server.stop()


async def record_cost(binary: str, clients: int, per_client: int) -> dict:
    # Small public service records (~415 bytes as sent), 1,000 per client (the per-client limit).
    server = Server(binary)
    try:
        conns = [await hello(server) for _ in range(clients)]
        await asyncio.sleep(0.5)
        before = server.rss()
        for ws, info in conns:
            manager = f"*/{info['manager_id']}"
            for i in range(per_client):
                service = {"id": f"{info['workspace']}/{info['client_id']}:s{i}", "name": f"s{i}",
                           "type": "generic", "description": "d" * 300,
                           "config": {"visibility": "public"}}
                await ws.send(call(manager, "services.default.register_service", f"r{i}", [service]))
            for _ in range(per_client):
                await asyncio.wait_for(ws.recv(), timeout=30)
        await asyncio.sleep(1)
        after = server.rss()
        records = clients * per_client
        return {"records": records, "rss_before_kib": before, "rss_after_kib": after,
                "bytes_per_record": round((after - before) * 1024 / records)}
    finally:
        server.stop()


async def churn(binary: str, total: int, wave: int) -> dict:
    server = Server(binary)
    try:
        await asyncio.sleep(0.5)
        # Warm up once so allocator pools count as the baseline.
        ws, _ = await hello(server)
        await ws.close()
        await asyncio.sleep(0.5)
        before = server.rss()

        async def one():
            ws, info = await hello(server)
            service = {"id": f"{info['workspace']}/{info['client_id']}:svc", "name": "svc",
                       "config": {"visibility": "public"}, "type": "generic"}
            await ws.send(call(f"*/{info['manager_id']}", "services.default.register_service",
                               "s1", [service]))
            await asyncio.wait_for(ws.recv(), timeout=10)
            await ws.close()

        for start in range(0, total, wave):
            await asyncio.gather(*(one() for _ in range(min(wave, total - start))))
        await asyncio.sleep(2)
        after = server.rss()
        return {"clients": total, "rss_before_kib": before, "rss_after_kib": after,
                "growth_kib": after - before}
    finally:
        server.stop()


async def under_attack(binary: str, name: str, attack, server_args=(), probes=5) -> dict:
    server = Server(binary, *server_args)
    stop = asyncio.Event()
    watcher = asyncio.create_task(server.watch_peak(stop))
    try:
        await asyncio.sleep(0.3)
        attack_task = asyncio.create_task(attack(server))
        await asyncio.sleep(1.0)
        times = []
        for _ in range(probes):
            times.append(await probe(server.url))
            await asyncio.sleep(0.3)
        outcome = await asyncio.wait_for(attack_task, timeout=60)
        stop.set()
        await watcher
        return {"attack": name, "worst_probe_s": round(max(times), 3),
                "peak_rss_mib": round(server.peak / 1024, 1), **(outcome or {})}
    finally:
        stop.set()
        server.stop()


# ---------------------------------------------------------------- attacks


async def half_sent_requests(server: Server, n=1100) -> dict:
    socks = []
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", server.port), timeout=2)
            if i % 2:
                s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            socks.append(s)
        except OSError:
            break
    started = time.monotonic()
    closed = 0
    while time.monotonic() - started < 15 and closed < len(socks):
        closed = 0
        for s in socks:
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        await asyncio.sleep(0.5)
    for s in socks:
        s.close()
    return {"sockets": len(socks), "closed_by_server": closed,
            "closed_within_s": round(time.monotonic() - started, 1)}


async def flood_non_reader(server: Server, mib=200) -> dict:
    owner = await connect_to_server({"server_url": server.url})
    token, workspace = await owner.generate_token(), owner.config.workspace
    await owner.disconnect()
    sink, info = await hello(server, token=token, workspace=workspace, options={"max_queue": 1})
    flood, _ = await hello(server, token=token, workspace=workspace)
    frame = call(f"{workspace}/{info['client_id']}", "services.x.f", None, [b"\0" * MiB])
    for _ in range(mib):
        await flood.send(frame)
    dropped = False
    try:
        for _ in range(10_000):
            await asyncio.wait_for(sink.recv(), timeout=5)
    except websockets.ConnectionClosed:
        dropped = True
    except asyncio.TimeoutError:
        pass
    await flood.close()
    return {"sent_mib": mib, "non_reader_dropped": dropped}


async def upload_hoard(server: Server, clients=20, uploads=16, mib=4) -> dict:
    refused = accepted = 0
    conns = []
    for c in range(clients):
        ws, info = await hello(server)
        conns.append(ws)
        manager = f"*/{info['manager_id']}"
        for u in range(uploads):
            key = f"k{u}"
            await ws.send(call(manager, "services.built-in.message_cache.create", f"c{u}", [key, False]))
            await ws.recv()
            for i in range(mib * 4):  # 256 KiB chunks
                await ws.send(call(manager, "services.built-in.message_cache.set", f"s{u}.{i}",
                                   [key, i, b"\1" * (256 * 1024)]))
                reply = msgpack.Unpacker()
                reply.feed(await ws.recv())
                if str(next(reply).get("method", "")).endswith(".reject"):
                    refused += 1
                    break
                accepted += 1
    for ws in conns:
        await ws.close()
    return {"chunks_accepted": accepted, "uploads_refused": refused}


async def service_hoard(server: Server, clients=50, per_client=20, kib=1024) -> dict:
    refused = accepted = 0
    conns = []
    for c in range(clients):
        ws, info = await hello(server)
        conns.append(ws)
        manager = f"*/{info['manager_id']}"
        for i in range(per_client):
            service = {"id": f"{info['workspace']}/{info['client_id']}:s{i}", "name": f"s{i}",
                       "type": "generic", "description": "x" * (kib * 1024),
                       "config": {"visibility": "public"}}
            await ws.send(call(manager, "services.default.register_service", f"r{i}", [service]))
            reply = msgpack.Unpacker()
            reply.feed(await asyncio.wait_for(ws.recv(), timeout=10))
            if str(next(reply).get("method", "")).endswith(".reject"):
                refused += 1
            else:
                accepted += 1
    for ws in conns:
        await ws.close()
    return {"records_accepted": accepted, "records_refused": refused}


async def listing_amplifier(server: Server, seconds=5.0) -> dict:
    # 2 MiB of public services, then list_services('*') 100 times a second, never reading.
    owner, info = await hello(server)
    manager = f"*/{info['manager_id']}"
    for i in range(10):
        service = {"id": f"{info['workspace']}/{info['client_id']}:p{i}", "name": f"p{i}",
                   "type": "generic", "description": "y" * (200 * 1024), "config": {"visibility": "public"}}
        await owner.send(call(manager, "services.default.register_service", f"r{i}", [service]))
        await owner.recv()
    asker, _ = await hello(server, options={"max_queue": 1})
    sent = 0
    dropped = False
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            await asker.send(call(manager, "services.default.list_services", f"l{sent}", ["*"]))
            sent += 1
            await asyncio.sleep(0.01)
    except websockets.ConnectionClosed:
        dropped = True
    await owner.close()
    await asker.close()
    return {"listings_asked": sent, "asker_dropped": dropped}


async def joined(server: Server, n: int, **options) -> tuple[list, dict, str]:
    """`n` raw clients in one (anonymous) workspace, the last one's connection_info, and a
    token for the workspace."""
    owner = await connect_to_server({"server_url": server.url})
    token, workspace = await owner.generate_token(), owner.config.workspace
    await owner.disconnect()
    conns = []
    info = {}
    for _ in range(n):
        ws, info = await hello(server, token=token, workspace=workspace, options=options)
        conns.append(ws)
    return conns, info, token


def abort(ws) -> None:
    """Drop a client's socket without the closing handshake (a client that does not read
    would make a clean close wait for its timeout)."""
    ws.transport.abort()


async def clients_left(server: Server, workspace: str, token: str) -> int:
    client = await connect_to_server({"server_url": server.url, "token": token, "workspace": workspace})
    try:
        return len(await client.list_clients()) - 1
    finally:
        await client.disconnect()


async def fan_out(server: Server, subscribers=200, events=10) -> dict:
    # Subscribers that never read; one client of their workspace broadcasts 1 MiB events.
    subs, info, token = await joined(server, subscribers, max_queue=1)
    manager = f"*/{info['manager_id']}"
    for i, ws in enumerate(subs):
        await ws.send(call(manager, "services.default.subscribe", f"sub{i}", [["news"]]))
    sender, _ = await hello(server, token=token, workspace=info["workspace"])
    event = msgpack.packb({"type": "news", "to": "*", "data": b"\2" * MiB})
    for _ in range(events):
        await sender.send(event)
    await asyncio.sleep(2)
    left = await clients_left(server, info["workspace"], token) - 1
    for ws in subs:
        abort(ws)
    abort(sender)
    return {"subscribers": subscribers, "events_mib": events,
            "subscribers_dropped": subscribers - left}


async def message_flood(server: Server, seconds=5.0) -> dict:
    # One client sends small frames as fast as it can (events nobody subscribed to).
    ws, _ = await hello(server)
    frame = msgpack.packb({"type": "nobody-listens", "to": "*"})
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for _ in range(1000):
            await ws.send(frame)
        sent += 1000
    await ws.close()
    return {"frames_sent": sent, "per_second": round(sent / (time.monotonic() - started))}


async def cross_workspace_push(server: Server, mib=200) -> dict:
    # A stranger pushes 1 MiB "answers" at a client of another workspace that does not read.
    (victim,), info, token = await joined(server, 1, max_queue=1)
    stranger, _ = await hello(server)
    frame = call(f"{info['workspace']}/{info['client_id']}", "abc.resolve", None, [b"\3" * MiB])
    for _ in range(mib):
        await stranger.send(frame)
    await asyncio.sleep(1)
    victim_dropped = await clients_left(server, info["workspace"], token) == 0
    abort(victim)
    abort(stranger)
    return {"pushed_mib": mib, "victim_dropped": victim_dropped}


async def oversized_hellos(server: Server, n=20) -> dict:
    refused = 0
    started = time.monotonic()
    big = json.dumps({"client_id": "x", "pad": "z" * (15 * MiB)})
    for _ in range(n):
        ws = await websockets.connect(server.ws, max_size=None)
        await ws.send(big)
        try:
            reply = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            refused += reply.get("type") == "error"
        except websockets.ConnectionClosed:
            refused += 1
        await ws.close()
    return {"hellos_15_mib": n, "refused": refused,
            "seconds": round(time.monotonic() - started, 1)}


async def many_services_listed(server: Server, services=50_000, owners=50, asks=20) -> dict:
    # 50,000 small public services from 50 clients (1,000 each, the per-client limit), then
    # `list_services('*')` asked over and over: each answer would be ~22 MB.
    per_owner = services // owners
    conns = []
    for _ in range(owners):
        ws, info = await hello(server)
        conns.append(ws)
        for i in range(per_owner):
            service = {"id": f"{info['workspace']}/{info['client_id']}:s{i}", "name": f"s{i}",
                       "type": "generic", "description": "d" * 300, "config": {"visibility": "public"}}
            await ws.send(call(f"*/{info['manager_id']}", "services.default.register_service",
                               f"r{i}", [service]))
        for _ in range(per_owner):
            await asyncio.wait_for(ws.recv(), timeout=30)
    asker, info = await hello(server)
    slowest = 0.0
    refused = 0
    for i in range(asks):
        started = time.monotonic()
        await asker.send(call(f"*/{info['manager_id']}", "services.default.list_services",
                              f"l{i}", ["*"]))
        reply = msgpack.Unpacker()
        reply.feed(await asyncio.wait_for(asker.recv(), timeout=30))
        refused += str(next(reply).get("method", "")).endswith(".reject")
        slowest = max(slowest, time.monotonic() - started)
    for ws in conns + [asker]:
        await ws.close()
    return {"services": services, "listings": asks, "refused": refused,
            "slowest_answer_s": round(slowest, 3)}


# ---------------------------------------------------------------- main


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=os.path.join(ROOT, "target/release/hypha-core-server"))
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument("--only", help="run only the attacks whose name contains this")
    args = parser.parse_args()
    quick = args.quick
    results = []
    if not args.only:
        results.append(("idle", await idle_cost(args.server, 300 if quick else 3000)))
        results.append(("churn", await churn(args.server, 1000 if quick else 10_000, 200)))
        results.append(("service records", await record_cost(args.server, 5 if quick else 50, 1000)))
    attacks = [
        ("half-sent requests", half_sent_requests, ()),
        ("client that stops reading, flooded", flood_non_reader, ()),
        ("uploads never processed", upload_hoard, ()),
        ("1 MiB service records", service_hoard, ()),
        ("200 KiB service records", lambda s: service_hoard(s, kib=200), ()),
        ("listing asked by a non-reader", listing_amplifier, ()),
        ("1 MiB events to 200 non-readers", fan_out, ()),
        ("small frames as fast as possible", message_flood, ()),
        ("pushes into another workspace", cross_workspace_push, ()),
        ("15 MiB hellos", oversized_hellos, ()),
        ("50,000 services listed", many_services_listed, ()),
    ]
    for name, attack, server_args in attacks:
        if args.only and args.only not in name:
            continue
        results.append((name, await under_attack(args.server, name, attack, server_args)))
    for name, figures in results:
        print(f"{name:40} {json.dumps(figures)}")


if __name__ == "__main__":
    asyncio.run(main())
