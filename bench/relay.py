#!/usr/bin/env python3
"""Minimal WebSocket relay: the "one extra hop" baseline for bench/run.sh.

Two kinds of sockets connect to it:
  ws://HOST:PORT/peer[/KEY]    the echo peer (sends back every frame it gets)
  ws://HOST:PORT/client[/KEY]  the benchmark client
Every frame from a client is forwarded, unchanged, to the most recent peer with
the same KEY (none = ""), and every frame from that peer to the most recent
client with that KEY: several independent pairs can share one relay. Nothing is
parsed, buffered or re-encoded. permessage-deflate is off by default (it is a
relay of raw bytes; `--compression deflate` turns it on to compare).

With --port 0 it prints `RELAY_LISTENING ws://HOST:PORT` once it listens.
"""

import argparse
import asyncio
import signal
import sys

from websockets.asyncio.server import serve

pairs = {}  # KEY -> {"peer": ws or None, "client": ws or None}


async def handler(ws):
    path = ws.request.path
    first, _, key = path.lstrip("/").partition("/")
    if first == "peer":
        role, other = "peer", "client"
    elif first == "client":
        role, other = "client", "peer"
    else:
        await ws.close(1008, "use /peer[/KEY] or /client[/KEY]")
        return
    state = pairs.setdefault(key, {"peer": None, "client": None})
    state[role] = ws
    try:
        async for msg in ws:
            dst = state[other]
            if dst is not None:
                await dst.send(msg)
    finally:
        if state[role] is ws:
            state[role] = None


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--compression", choices=["none", "deflate"], default="none")
    args = ap.parse_args()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handler,
        args.host,
        args.port,
        compression=None if args.compression == "none" else "deflate",
        max_size=None,
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"RELAY_LISTENING ws://{args.host}:{port}", flush=True)
        await stop


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
