"""hypha-rpc's HTTP streaming transport (`transport: "http"`, GET/POST /rpc) against our server,
with the PyPI client: an HTTP client is a client like a WebSocket one, and only the stream's
owner may post as it."""

from __future__ import annotations

import asyncio

import httpx
import msgpack
import numpy as np
import pytest

from conftest import uid, user_token

pytestmark = pytest.mark.asyncio


async def test_http_and_websocket_clients_serve_each_other(server, connect):
    http = await connect(transport="http", client_id=uid("http"))
    ws = await connect(client_id=uid("ws"))
    await http.register_service(
        {"id": "doubler", "config": {"visibility": "public"}, "double": lambda x: x * 2}
    )
    await ws.register_service(
        {"id": "tripler", "config": {"visibility": "public"}, "triple": lambda x: x * 3}
    )
    doubler = await ws.get_service(f"{http.config.workspace}/{http.config.client_id}:doubler")
    assert await doubler.double(21) == 42
    tripler = await http.get_service(f"{ws.config.workspace}/{ws.config.client_id}:tripler")
    assert await tripler.triple(5) == 15


async def test_a_token_client_lands_in_its_workspace(own_server, connect):
    token = user_token(own_server.secret, uid("user"))
    http = await connect(transport="http", token=token, client_id=uid("http"))
    ws = await connect(token=token, client_id=uid("ws"))
    assert http.config.workspace == ws.config.workspace
    await http.register_service({"id": "svc", "echo": lambda x: x})
    svc = await ws.get_service(f"{http.config.client_id}:svc")
    assert await svc.echo("same workspace") == "same workspace"


async def test_large_messages_cross_the_stream_both_ways(server, connect):
    # Over 256 KiB both ways: the client chunks its call through the manager's message cache,
    # and the manager's answer reaches it in chunks through the client's own.
    http = await connect(transport="http", client_id=uid("http"))
    data = np.random.rand(512, 512)
    back = await http.echo(data)
    assert np.array_equal(back, data)


async def test_a_post_without_the_streams_cookie_is_refused(server, connect):
    http = await connect(transport="http", client_id=uid("http"))
    workspace, client_id = http.config.workspace, http.config.client_id
    forged = msgpack.packb(
        {
            "type": "method",
            "to": f"*/{http.config.manager_id}",
            "method": "services.default.echo",
            "session": "forged",
        }
    ) + msgpack.packb({"args": ["forged"]})
    async with httpx.AsyncClient() as attacker:
        resp = await attacker.post(
            f"{server.url}/rpc",
            params={"client_id": client_id, "workspace": workspace},
            content=forged,
            headers={"content-type": "application/msgpack"},
        )
    assert resp.status_code == 403, resp.text
    assert "opened by another client" in resp.json()["detail"]
    # The owner is untouched and still works.
    assert await http.echo("still mine") == "still mine"


async def test_the_client_leaves_when_its_stream_closes(server, connect):
    http = await connect(transport="http", client_id=uid("http"))
    token = await http.generate_token()
    watcher = await connect(token=token, workspace=http.config.workspace, client_id=uid("w"))
    gone = f"{http.config.workspace}/{http.config.client_id}"
    assert any(c["id"] == gone for c in await watcher.list_clients())
    await http.disconnect()
    for _ in range(50):
        if not any(c["id"] == gone for c in await watcher.list_clients()):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"{gone} is still listed after its stream closed")
