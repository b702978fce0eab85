"""Core RPC flow through the server with the real PyPI `hypha-rpc` client."""

import asyncio

import pytest

from conftest import uid

pytestmark = pytest.mark.asyncio


def _ids(services):
    return [s["id"] for s in services]


def _same(listed_id: str, full_id: str) -> bool:
    return listed_id in (full_id, f"{full_id}@*")


async def test_register_list_get_call(same_workspace_pair):
    provider, consumer = same_workspace_pair
    assert consumer.config.workspace == provider.config.workspace

    info = await provider.register_service(
        {
            "id": "calc",
            "name": "Calculator",
            "description": "adds and greets",
            "add": lambda a, b: a + b,
            "greet": lambda name: f"hello {name}",
            "nested": {"mul": lambda a, b: a * b},
            "echo": lambda x: x,
        }
    )
    ws, cid = provider.config.workspace, provider.config.client_id
    assert info["id"] == f"{ws}/{cid}:calc"

    listed = await consumer.list_services()
    entry = next((s for s in listed if _same(s["id"], info["id"])), None)
    assert entry is not None, f"calc not listed: {_ids(listed)}"
    assert entry["name"] == "Calculator"

    svc = await consumer.get_service(info["id"])
    assert await svc.add(2, 40) == 42
    assert await svc.greet("hypha") == "hello hypha"
    assert await svc.nested.mul(6, 7) == 42
    payload = {"a": [1, "two", None, True], "b": {"c": 3.5}, "raw": b"\x00\x01\xff"}
    assert await svc.echo(payload) == payload


async def test_ws_slash_name_is_a_service_name_then_a_client(same_workspace_pair):
    # Python hypha's reading of get_service("<ws>/<name>"), which hypha-rpc's WebRTC auto mode
    # relies on (it looks up f"{ws}/{client_id}-rtc"); a client id still finds its default service.
    provider, consumer = same_workspace_pair
    ws, cid = provider.config.workspace, provider.config.client_id
    await provider.register_service({"id": f"{cid}-rtc", "ping": lambda: "rtc"})
    await provider.register_service({"id": "default", "ping": lambda: "default"})
    assert await (await consumer.get_service(f"{ws}/{cid}-rtc")).ping() == "rtc"
    assert await (await consumer.get_service(f"{ws}/{cid}")).ping() == "default"


async def test_a_listing_larger_than_a_frame_reaches_the_python_client(same_workspace_pair):
    # hypha-rpc's Python client drops frames over ~512 KB (msgpack BufferFull); the manager sends
    # larger answers through the client's message_cache instead.
    # (Its unpacker streams many small objects, but a single string over 512,000 bytes fails.)
    provider, consumer = same_workspace_pair
    description = "d" * 600_000
    await provider.register_service({"id": "big", "description": description, "f": lambda: 1})
    listed = await asyncio.wait_for(consumer.list_services(), 20)
    big = [s for s in listed if s["id"].split(":")[-1] == "big"]
    assert len(big) == 1
    assert big[0]["description"] == description


async def test_keyword_arguments(same_workspace_pair):
    provider, consumer = same_workspace_pair

    def combine(a, b=0, *, scale=1):
        return (a * 10 + b) * scale

    info = await provider.register_service({"id": "kw", "combine": combine})
    svc = await consumer.get_service(info["id"])
    assert await svc.combine(a=1, b=2) == 12
    assert await svc.combine(b=2, a=1) == 12  # order of keywords does not matter
    assert await svc.combine(3) == 30  # default for b
    assert await svc.combine(1, b=5, scale=2) == 30


async def test_error_reaches_caller(same_workspace_pair):
    provider, consumer = same_workspace_pair
    marker = uid("boom-")

    def fail():
        raise ValueError(f"service exploded: {marker}")

    info = await provider.register_service({"id": "err", "fail": fail, "ok": lambda: "still fine"})
    svc = await consumer.get_service(info["id"])
    with pytest.raises(Exception, match=marker):
        await svc.fail()
    assert await svc.ok() == "still fine"


async def test_unlisted_is_gettable_but_never_listed(same_workspace_pair):
    provider, consumer = same_workspace_pair
    hidden = await provider.register_service(
        {"id": "hidden", "config": {"visibility": "unlisted"}, "knock": lambda: "who's there"}
    )
    shown = await provider.register_service({"id": "shown", "knock": lambda: "visible"})
    ws = provider.config.workspace

    for lister in (provider, consumer):
        for query in (None, {"workspace": ws}):
            listed = _ids(await (lister.list_services() if query is None else lister.list_services(query)))
            assert any(_same(i, shown["id"]) for i in listed), f"control service missing: {listed}"
            assert not any(":hidden" in i for i in listed), f"unlisted service was listed: {listed}"

    svc = await consumer.get_service(hidden["id"])
    assert await svc.knock() == "who's there"


async def test_departed_client_services_disappear(same_workspace_pair):
    provider, consumer = same_workspace_pair
    info = await provider.register_service({"id": "leaving", "hi": lambda: "hi"})
    assert await (await consumer.get_service(info["id"])).hi() == "hi"

    await provider.disconnect()

    deadline = asyncio.get_running_loop().time() + 5
    while True:
        listed = _ids(await consumer.list_services())
        if not any(_same(i, info["id"]) for i in listed):
            break
        assert asyncio.get_running_loop().time() < deadline, f"{info['id']} still listed after disconnect"
        await asyncio.sleep(0.1)
    with pytest.raises(Exception):
        await consumer.get_service(info["id"])
