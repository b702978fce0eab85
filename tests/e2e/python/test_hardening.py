"""The native server against clients that misbehave at the socket level (issue: hardening):
half-sent requests, too many connections, clients that stop reading, and a clean close.
Each test starts its own server with small limits, and checks that a normal client still gets
through while the attack runs."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import msgpack
import pytest
import websockets

from conftest import start_server, uid

pytestmark = pytest.mark.asyncio


def _open_socket(port: int, send: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if send:
        s.sendall(send)
    return s


def _closed_by_server(s: socket.socket, within: float) -> bool:
    """True if the server closes `s` within `within` seconds."""
    s.settimeout(within)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


async def _echo_works(url: str) -> float:
    """Seconds a fresh hypha-rpc client needs to connect and call the manager."""
    from hypha_rpc import connect_to_server

    started = time.monotonic()
    client = await asyncio.wait_for(connect_to_server({"server_url": url}), timeout=5)
    try:
        assert await asyncio.wait_for(client.echo("ok"), timeout=5) == "ok"
    finally:
        await client.disconnect()
    return time.monotonic() - started


@pytest.fixture
def limited_server():
    servers = []

    def _start(*args: str):
        srv = start_server(extra_args=list(args))
        servers.append(srv)
        return srv

    yield _start
    for srv in servers:
        srv.stop()


async def test_half_sent_requests_are_closed_at_the_header_deadline(limited_server):
    srv = limited_server("--header-timeout", "1")
    silent = _open_socket(srv.port)
    half = _open_socket(srv.port, b"GET /ws HTTP/1.1\r\nHost: x\r\n")
    assert await _echo_works(srv.url) < 1.0
    started = time.monotonic()
    assert await asyncio.to_thread(_closed_by_server, half, 4.0), "a half-sent request stays open"
    assert await asyncio.to_thread(_closed_by_server, silent, 4.0), "a silent socket stays open"
    assert time.monotonic() - started < 4.0


async def test_connections_past_the_limit_are_closed_and_the_limit_frees(limited_server):
    srv = limited_server("--max-connections", "4", "--header-timeout", "2")
    hogs = [_open_socket(srv.port) for _ in range(4)]
    await asyncio.sleep(0.2)
    extra = _open_socket(srv.port)
    assert await asyncio.to_thread(_closed_by_server, extra, 1.0), "a fifth connection was kept"
    # The hogs go at their header deadline; then clients get in again.
    for hog in hogs:
        assert await asyncio.to_thread(_closed_by_server, hog, 4.0)
    assert await _echo_works(srv.url) < 1.0


async def test_a_client_close_frame_is_answered(limited_server):
    srv = limited_server()
    ws_url = srv.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"client_id": uid("c")}))
        info = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        assert info["type"] == "connection_info"
        await asyncio.wait_for(ws.close(), timeout=5)
        assert ws.protocol.close_rcvd is not None, "the server never answered the close frame"
        assert ws.close_code == 1000


async def test_a_client_that_stops_reading_is_dropped_at_its_budget(limited_server):
    srv = limited_server("--outbox-bytes", str(1 << 20))
    ws_url = srv.url.replace("http://", "ws://") + "/ws"
    # A client that connects, then never reads again: its library stops taking frames off the
    # socket once one is buffered.
    from hypha_rpc import connect_to_server

    owner = await connect_to_server({"server_url": srv.url})
    token, workspace = await owner.generate_token(), owner.config.workspace
    await owner.disconnect()
    hello = {"token": token, "workspace": workspace}
    sink = await websockets.connect(ws_url, max_queue=1, max_size=None)
    await sink.send(json.dumps({**hello, "client_id": uid("sink")}))
    info = json.loads(await asyncio.wait_for(sink.recv(), timeout=5))
    sink_addr = f"{info['workspace']}/{info['client_id']}"
    # A client of the same workspace sends it 512 KiB calls, fire and forget: 100 MiB in all.
    flood = await websockets.connect(ws_url, max_size=None)
    await flood.send(json.dumps({**hello, "client_id": uid("flood")}))
    assert json.loads(await asyncio.wait_for(flood.recv(), timeout=5))["type"] == "connection_info"
    call = msgpack.packb({"type": "method", "to": sink_addr, "method": "services.x.f"})
    call += msgpack.packb({"args": [b"\0" * (512 * 1024)]})
    try:
        for _ in range(200):
            await flood.send(call)
        # A normal client still connects and calls at once, and the server holds no more than
        # the sink's budget for it.
        assert await _echo_works(srv.url) < 1.0
        rss_kib = _rss_kib(srv.proc.pid)
        assert rss_kib < 256 * 1024, f"server RSS {rss_kib} KiB"
        # The sink was dropped: what it reads now ends with the socket's end, not a close frame.
        with pytest.raises(websockets.ConnectionClosedError):
            for _ in range(1000):
                await asyncio.wait_for(sink.recv(), timeout=5)
    finally:
        await flood.close()
        await sink.close()


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def test_a_client_over_its_message_rate_is_slowed_down_not_cut_off(limited_server):
    srv = limited_server("--message-rate", "50", "--message-burst", "10")
    ws_url = srv.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url) as fast:
        await fast.send(json.dumps({"client_id": uid("fast")}))
        assert json.loads(await asyncio.wait_for(fast.recv(), timeout=5))["type"] == "connection_info"
        started = time.monotonic()
        for _ in range(110):
            await fast.send(json.dumps({"type": "ping"}))
        # 10 pass at once, the other 100 at 50 a second: the server cannot have answered them
        # all in under 2 s, and meanwhile everyone else is served as usual.
        assert await _echo_works(srv.url) < 1.0
        pongs = 0
        while pongs < 110:
            reply = json.loads(await asyncio.wait_for(fast.recv(), timeout=5))
            pongs += reply["type"] == "pong"
        elapsed = time.monotonic() - started
        assert 1.8 < elapsed < 4.0, f"110 pings answered in {elapsed:.2f} s"
        await fast.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(fast.recv(), timeout=5))["type"] == "pong"


async def _raw_client(ws_url: str, hello: dict):
    ws = await websockets.connect(ws_url, max_size=None)
    await ws.send(json.dumps({"client_id": uid("raw"), **hello}))
    info = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
    assert info["type"] == "connection_info", info
    return ws, info


async def test_a_client_whose_events_fan_out_is_paced_by_the_bytes_it_makes_the_server_send(
    limited_server,
):
    srv = limited_server("--fan-out-rate", "1000000", "--fan-out-burst", "1000000")
    ws_url = srv.url.replace("http://", "ws://") + "/ws"
    from hypha_rpc import connect_to_server

    owner = await connect_to_server({"server_url": srv.url})
    hello = {"token": await owner.generate_token(), "workspace": owner.config.workspace}
    await owner.disconnect()
    subscribers = []
    for i in range(3):
        ws, info = await _raw_client(ws_url, hello)
        subscribe = msgpack.packb(
            {"type": "method", "to": f"*/{info['manager_id']}", "method": "services.default.subscribe", "session": f"s{i}"}
        ) + msgpack.packb({"args": [["news"]], "promise": "*"})
        await ws.send(subscribe)
        await asyncio.wait_for(ws.recv(), timeout=5)
        subscribers.append(ws)
    sender, _ = await _raw_client(ws_url, hello)
    # Ten 100 KB events to three subscribers: 2 MB sent beyond the events' own size, 1 MB over
    # the burst, so at 1 MB/s the sender's next message waits about a second.
    event = msgpack.packb({"type": "news", "to": "*", "data": b"\1" * 100_000})
    started = time.monotonic()
    for _ in range(10):
        await sender.send(event)
    await sender.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(sender.recv(), timeout=5))["type"] == "pong"
    elapsed = time.monotonic() - started
    assert 0.7 < elapsed < 3.0, f"the sender's ping was answered after {elapsed:.2f} s"
    for ws in subscribers:
        for _ in range(10):
            assert len(await asyncio.wait_for(ws.recv(), timeout=5)) > 100_000
        await ws.close()
    await sender.close()
