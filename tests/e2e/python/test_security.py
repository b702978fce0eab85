"""Security model checks with the real PyPI `hypha-rpc` client.

Every refusal is paired with a control that must succeed, so a server that
refuses everything fails these tests as surely as one that allows everything.
"""

import asyncio
import secrets
import time

import jwt
import pytest

from conftest import METHOD_TIMEOUT, claims, root_token, sign, uid, user_token

pytestmark = pytest.mark.asyncio


def _ids(services):
    return [s["id"] for s in services]


def _service_info(full_id: str, workspace: str) -> dict:
    """A service record as hypha-rpc sends it to the manager's register_service."""
    return {
        "id": full_id,
        "name": full_id.split(":")[-1],
        "description": None,
        "type": "generic",
        "docs": None,
        "app_id": "*",
        "config": {"visibility": "protected", "require_context": False, "workspace": workspace},
        "service_schema": {"hello": {"type": "function", "function": {"name": "hello"}}},
    }


async def _raw_manager(client):
    return await client.rpc.get_manager_service({"timeout": METHOD_TIMEOUT, "case_conversion": "snake"})


async def _refused(awaitable, what: str) -> str:
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(awaitable, timeout=METHOD_TIMEOUT + 5)
    except asyncio.TimeoutError:
        pytest.fail(f"{what}: no answer within {METHOD_TIMEOUT + 5}s (expected a refusal)")
    except Exception as exc:  # the refusal we expect
        msg = f"{type(exc).__name__}: {exc}"
        assert "Timeout" not in type(exc).__name__, f"{what}: timed out instead of being refused: {msg}"
        assert time.monotonic() - started < METHOD_TIMEOUT, f"{what}: refusal took too long"
        return msg
    pytest.fail(f"{what}: was allowed (result: {result!r})")


# ---- handshake --------------------------------------------------------------


async def test_anonymous_cannot_enter_default(own_server, connect):
    msg = await _refused(connect(workspace="default"), "anonymous → default")
    assert "ConnectionAbortedError" in msg or "Connection" in msg
    root = await connect(token=root_token(own_server.secret), workspace="default")
    assert root.config.workspace == "default"


async def test_bad_tokens_are_refused(own_server, connect):
    now = int(time.time())
    expired = sign(claims(sub="root", roles=["admin"], iat=now - 7200, exp=now - 3600), own_server.secret)
    foreign = root_token(secrets.token_hex(32))  # valid token, wrong key
    await _refused(connect(token=expired, workspace="default"), "expired token")
    await _refused(connect(token=foreign, workspace="default"), "token signed with another secret")
    ok = await connect(token=root_token(own_server.secret), workspace="default")
    assert ok.config.workspace == "default"


# ---- generate_token ---------------------------------------------------------


async def test_generate_token_lets_a_second_client_in(own_server, connect):
    owner = await connect(client_id=uid("owner"))
    ws = owner.config.workspace
    info = await owner.register_service({"id": "private-svc", "whisper": lambda: "only for my workspace"})

    # Without the token another anonymous client cannot enter the workspace.
    await _refused(connect(workspace=ws), "anonymous → someone else's workspace")

    token = await owner.generate_token({})
    assert isinstance(token, str) and token.count(".") == 2
    guest = await connect(token=token, workspace=ws, client_id=uid("guest"))
    assert guest.config.workspace == ws
    svc = await guest.get_service(info["id"])
    assert await svc.whisper() == "only for my workspace"


async def test_generate_token_refuses_foreign_workspace_and_extra_roles(own_server, connect):
    anon = await connect()
    other = await connect()
    assert anon.config.workspace != other.config.workspace
    await _refused(anon.generate_token({"workspace": "default"}), "token for default")
    await _refused(anon.generate_token({"workspace": other.config.workspace}), "token for another user's workspace")
    # Control: a plain token for its own workspace is fine.
    assert isinstance(await anon.generate_token({"workspace": anon.config.workspace}), str)


async def test_generate_token_cannot_escalate_roles(own_server, connect):
    anon = await connect()
    try:
        token = await asyncio.wait_for(anon.generate_token({"roles": ["admin"]}), timeout=METHOD_TIMEOUT + 5)
    except asyncio.TimeoutError:
        pytest.fail("generate_token({roles:[admin]}) never answered")
    except Exception:
        return  # refused: what the contract asks for
    # Not refused: then the token must not carry the role nor act like it.
    payload = jwt.decode(token, options={"verify_signature": False})
    assert "admin" not in (payload.get("roles") or []), f"anonymous user minted an admin token: {payload}"
    await _refused(connect(token=token, workspace="default"), "self-minted 'admin' token → default")


# ---- registration -----------------------------------------------------------


async def test_only_root_registers_in_public(own_server, connect):
    visitor = await connect(workspace="public")
    assert visitor.config.workspace == "public"
    await _refused(
        visitor.register_service({"id": "squat", "hello": lambda: "hi"}), "anonymous registering in public"
    )
    root = await connect(token=root_token(own_server.secret), workspace="public", client_id=uid("root"))
    info = await root.register_service(
        {"id": "official", "config": {"visibility": "public"}, "hello": lambda: "hi from root"}
    )
    listed = _ids(await visitor.list_services("public"))
    assert any(i.startswith(info["id"]) for i in listed), f"root's public service missing: {listed}"
    assert not any(":squat" in i for i in listed), f"refused service is listed: {listed}"
    assert await (await visitor.get_service(info["id"])).hello() == "hi from root"


async def test_only_root_registers_in_default(own_server, connect):
    user = await connect()
    # hypha-rpc builds the service id from config.workspace, so this asks for default/<cid>:squat.
    await _refused(
        user.register_service({"id": "squat", "config": {"workspace": "default"}, "hello": lambda: "hi"}),
        "anonymous registering in default",
    )
    mgr = await _raw_manager(user)
    cid = user.config.client_id
    await _refused(
        mgr.register_service(_service_info(f"default/{cid}:squat2", "default")),
        "raw register_service into default",
    )
    root = await connect(token=root_token(own_server.secret), workspace="default", client_id=uid("root"))
    await root.register_service({"id": "root-svc", "hello": lambda: "root"})
    listed = _ids(await root.list_services())
    assert any(":root-svc" in i for i in listed), f"root's service missing in default: {listed}"
    assert not any(":squat" in i for i in listed), f"refused service is listed in default: {listed}"


async def test_cannot_register_under_another_clients_id(own_server, connect):
    token = user_token(own_server.secret, uid("alice"))
    victim = await connect(token=token, client_id=uid("victim"))
    attacker = await connect(token=token, client_id=uid("attacker"), workspace=victim.config.workspace)
    ws = victim.config.workspace
    assert attacker.config.workspace == ws

    mgr = await _raw_manager(attacker)
    await _refused(
        mgr.register_service(_service_info(f"{ws}/{victim.config.client_id}:impostor", ws)),
        "register under another client's id",
    )
    # Control: the same raw call under the attacker's own id is accepted.
    own = attacker.rpc._extract_service_info(attacker.rpc.add_service({"id": "mine", "hello": lambda: "mine"}))
    await mgr.register_service(own)
    listed = _ids(await victim.list_services())
    assert any(i.startswith(f"{ws}/{attacker.config.client_id}:mine") for i in listed), listed
    assert not any(":impostor" in i for i in listed), f"impostor service is listed: {listed}"


# ---- across workspaces --------------------------------------------------------


async def test_a_public_service_calls_back_and_streams_to_a_caller_of_another_workspace(connect):
    """The server routes non-`services.*` methods across workspaces only between clients a
    service call linked: the answer, the callbacks the caller passed, and the caller's calls
    into a generator the provider returned must all still flow."""
    provider = await connect(client_id=uid("prov"))

    async def notify(callback, n):
        for i in range(n):
            await callback(f"tick {i}")
        return "done"

    async def count(n):
        for i in range(n):
            yield i

    info = await provider.register_service(
        {"id": "ticker", "config": {"visibility": "public"}, "notify": notify, "count": count}
    )
    caller = await connect(client_id=uid("caller"))
    assert caller.config.workspace != provider.config.workspace
    svc = await caller.get_service(info["id"])

    ticks = []
    assert await svc.notify(ticks.append, 3) == "done"
    assert ticks == ["tick 0", "tick 1", "tick 2"]
    streamed = [i async for i in await svc.count(3)]
    assert streamed == [0, 1, 2]
