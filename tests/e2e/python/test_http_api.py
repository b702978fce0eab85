"""The HTTP service API of hypha-core-server, end to end.

Providers are real PyPI `hypha-rpc` clients (in this process, so a test can
hold the asyncio.Event a provider waits on); callers are plain `httpx`
requests, as a browser, curl or a script would send them. Every refusal is
paired with a control that must succeed.

Python-only behaviour tested here (the Node file covers JS providers): query
coercion seen as Python types, missing-argument/ValueError mapping, `bytes`
results, sync generators and generator close on disconnect, ASGI
`serve(args, context)` with `require_context`, and the security checks
(tokens, cookies, CORS, forged context, rate limit, body limits, gzip).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import secrets
import time
from contextlib import asynccontextmanager

import httpx
import msgpack
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from conftest import METHOD_TIMEOUT, claims, root_token, sign, start_server, uid, user_token

pytestmark = pytest.mark.asyncio

HTTP_TIMEOUT = 15.0  # bound of every HTTP request
WAIT = 10.0  # bound of every wait for something the server should do promptly
ALLOWED_ORIGIN = "http://good.example"
EVIL_ORIGIN = "http://evil.example"
ANON_WS = "ws-anonymous"
ANON_USER = "anonymouz-http"
TRACEBACK = "Traceback (most recent call last)"


# ---- helpers ----------------------------------------------------------------


def _media(r: httpx.Response) -> str:
    return r.headers.get("content-type", "").split(";")[0].strip().lower()


def _ok_json(r: httpx.Response, status: int = 200):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert _media(r) == "application/json", f"content-type {r.headers.get('content-type')!r}: {r.text[:300]}"
    return r.json()


def _error(r: httpx.Response, status, contains: str | None = None) -> str:
    """A JSON error `{"success": false, "detail": str}` with `status` (an int or a range)."""
    ok = r.status_code in status if isinstance(status, range) else r.status_code == status
    assert ok, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert _media(r) == "application/json", f"error is not JSON ({r.headers.get('content-type')!r}): {r.text[:300]}"
    body = r.json()
    assert isinstance(body, dict) and body.get("success") is False, f"not an error body: {body!r}"
    detail = body.get("detail")
    assert isinstance(detail, str) and detail, f"no detail: {body!r}"
    assert TRACEBACK not in detail and '  File "' not in detail, f"traceback leaked: {detail}"
    if contains is not None:
        assert contains in detail, f"{contains!r} not in detail {detail!r}"
    return detail


def _call_url(srv, ws: str, service: str, fn: str) -> str:
    return f"{srv.url}/{ws}/services/{service}/{fn}"


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _ndjson(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    out = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        for line in event.split("\n"):
            if line.startswith("data:"):
                out.append(line[5:].removeprefix(" "))
    return out


@asynccontextmanager
async def _spawned(clients, *args: str):
    """(server, provider): a server of our own started with extra command-line
    flags, and an anonymous hypha-rpc client on it (gone before the server)."""
    if os.environ.get("HYPHA_TEST_SERVER_URL"):
        pytest.skip("needs hypha-core-server started with its own flags")
    srv = await asyncio.to_thread(start_server, None, list(args))
    try:
        prov = await clients(srv, client_id=uid("prov"))
        try:
            yield srv, prov
        finally:
            try:
                await asyncio.wait_for(prov.disconnect(), 3)
            except Exception:  # already gone
                pass
    finally:
        await asyncio.to_thread(srv.stop)


@pytest_asyncio.fixture
async def http():
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def origin_server():
    """Our server with one allowed origin (cookie and CORS tests)."""
    if os.environ.get("HYPHA_TEST_SERVER_URL"):
        pytest.skip("needs hypha-core-server started with --allow-origin")
    srv = start_server(extra_args=["--allow-origin", ALLOWED_ORIGIN])
    try:
        yield srv
    finally:
        srv.stop()


def _whoami(context=None):
    context = context or {}
    user = context.get("user") or {}
    return {"ws": context.get("ws"), "user": user.get("id"), "from": context.get("from")}


WHOAMI = {"id": "who", "config": {"visibility": "public", "require_context": True}, "whoami": _whoami}


def _kind(v) -> str:
    """The Python type a provider got (hypha-rpc hands dicts over as a dict subclass)."""
    for t in (bool, int, float, str, dict, list, bytes):
        if isinstance(v, t):
            return t.__name__
    return "NoneType" if v is None else type(v).__name__


def _multiply(a, b):
    return a * b


def _sub(a, b):
    return a - b


# ---- calls: arguments --------------------------------------------------------


async def test_get_query_becomes_keyword_arguments(server, connect, http):
    prov = await connect(client_id=uid("prov"))
    await prov.register_service(
        {"id": "calc", "config": {"visibility": "public"}, "multiply": _multiply, "sub": _sub}
    )
    ws = prov.config.workspace
    r = await http.get(_call_url(server, ws, "calc", "multiply"), params={"a": 9, "b": 22})
    assert _ok_json(r) == 198
    # By name, not by position: 9 - 2, whatever the order in the query.
    r = await http.get(_call_url(server, ws, "calc", "sub") + "?b=2&a=9")
    assert _ok_json(r) == 7
    # The same through `client_id:svc`.
    r = await http.get(_call_url(server, ws, f"{prov.config.client_id}:calc", "sub") + "?a=10&b=4")
    assert _ok_json(r) == 6


async def test_a_result_over_256_kib_arrives_whole(server, connect, http):
    # hypha-rpc sends results over 256 KiB through the receiver's message_cache; the HTTP
    # request's peer accepts the upload from the provider it called.
    prov = await connect(client_id=uid("prov"))
    await prov.register_service(
        {"id": "big", "config": {"visibility": "public"}, "text": lambda n: "x" * n,
         "data": lambda n: bytes(range(256)) * (n // 256)}
    )
    ws = prov.config.workspace
    r = await http.get(_call_url(server, ws, "big", "text"), params={"n": 700_000})
    assert _ok_json(r) == "x" * 700_000
    r = await http.get(
        _call_url(server, ws, "big", "data"), params={"n": 1 << 20},
        headers={"accept": "application/msgpack"},
    )
    assert r.status_code == 200, r.text[:300]
    assert msgpack.unpackb(r.content) == bytes(range(256)) * 4096


async def test_query_value_coercion(server, connect, http):
    # Python-only: the provider reports the Python type each value arrived as.
    def kinds(**kwargs):
        return {k: [_kind(v), v] for k, v in kwargs.items()}

    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "kinds", "config": {"visibility": "public"}, "kinds": kinds})
    params = {
        "i": "42",
        "neg": "-5",
        "f": "1.5",
        "e": "1e3",
        "t": "true",
        "fa": "false",
        "n": "null",
        "obj": '{"x": [1, 2]}',
        "arr": '[1, "a"]',
        "s": "abc",
        "nan": "nan",
    }
    got = _ok_json(await http.get(_call_url(server, prov.config.workspace, "kinds", "kinds"), params=params))
    assert got == {
        "i": ["int", 42],
        "neg": ["int", -5],
        "f": ["float", 1.5],
        "e": ["float", 1000.0],
        "t": ["bool", True],
        "fa": ["bool", False],
        "n": ["NoneType", None],
        "obj": ["dict", {"x": [1, 2]}],
        "arr": ["list", [1, "a"]],
        "s": ["str", "abc"],
        "nan": ["str", "nan"],
    }


async def test_mode_is_not_an_argument_and_bad_json_query_is_400(server, connect, http):
    def kinds(**kwargs):
        return {k: _kind(v) for k, v in kwargs.items()}

    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "kinds", "config": {"visibility": "public"}, "kinds": kinds})
    url = _call_url(server, prov.config.workspace, "kinds", "kinds")
    assert _ok_json(await http.get(url, params={"_mode": "random", "x": "1"})) == {"x": "int"}
    _error(await http.get(url, params={"x": "{not json"}), 400)
    _error(await http.get(url, params={"x": "[1, 2"}), 400)
    assert _ok_json(await http.get(url, params={"x": "{}"})) == {"x": "dict"}  # control


async def test_post_json_object_is_kwargs(server, connect, http):
    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "calc", "config": {"visibility": "public"}, "sub": _sub})
    url = _call_url(server, prov.config.workspace, "calc", "sub")
    r = await http.post(url, content=b'{"b": 2, "a": 9}', headers={"Content-Type": "application/json"})
    assert _ok_json(r) == 7
    r = await http.post(url, content=b'{"b": 2, "a": 9}', headers={"Content-Type": "application/json; charset=utf-8"})
    assert _ok_json(r) == 7
    _error(await http.post(url, content=b'{"a": 9,', headers={"Content-Type": "application/json"}), 400)


async def test_gzip_request_body(server, connect, http):
    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "calc", "config": {"visibility": "public"}, "multiply": _multiply})
    url = _call_url(server, prov.config.workspace, "calc", "multiply")
    body = gzip.compress(json.dumps({"a": 6, "b": 7}).encode())
    r = await http.post(url, content=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert _ok_json(r) == 42
    packed = gzip.compress(msgpack.packb({"a": 3, "b": 5}))
    r = await http.post(
        url,
        content=packed,
        headers={"Content-Type": "application/msgpack", "Content-Encoding": "gzip", "Accept": "application/json"},
    )
    assert _ok_json(r) == 15


# ---- calls: results and errors ----------------------------------------------


async def test_bytes_result_json_and_msgpack(server, connect, http):
    blob = b"\x00\x01\xffhypha"
    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "bin", "config": {"visibility": "public"}, "blob": lambda: blob})
    url = _call_url(server, prov.config.workspace, "bin", "blob")
    got = _ok_json(await http.get(url))
    assert got == {"_rtype": "bytes", "_rvalue": base64.b64encode(blob).decode()}
    r = await http.get(url, headers={"Accept": "application/msgpack"})
    assert r.status_code == 200, r.text[:300]
    assert _media(r) == "application/msgpack"
    assert msgpack.unpackb(r.content, raw=False) == blob


async def test_python_errors_map_to_status(server, connect, http):
    marker = uid("m")

    def bad_value():
        raise ValueError(f"bad value {marker}")

    def bad_type():
        raise TypeError(f"bad type {marker}")

    def broken():
        raise RuntimeError(f"exploded {marker}")

    # hypha-rpc reports errors of async functions differently (the message is
    # the formatted traceback), so both kinds are checked.
    async def abad_value():
        raise ValueError(f"async bad value {marker}")

    async def abroken():
        raise RuntimeError(f"async exploded {marker}")

    prov = await connect(client_id=uid("prov"))
    await prov.register_service(
        {
            "id": "errs",
            "config": {"visibility": "public"},
            "bad_value": bad_value,
            "bad_type": bad_type,
            "broken": broken,
            "abad_value": abad_value,
            "abroken": abroken,
            "multiply": _multiply,
        }
    )
    ws = prov.config.workspace
    _error(await http.get(_call_url(server, ws, "errs", "bad_value")), 400, contains=f"bad value {marker}")
    _error(await http.get(_call_url(server, ws, "errs", "bad_type")), 400, contains=f"bad type {marker}")
    _error(await http.get(_call_url(server, ws, "errs", "broken")), 500, contains=f"exploded {marker}")
    _error(await http.get(_call_url(server, ws, "errs", "abad_value")), 400, contains=f"async bad value {marker}")
    _error(await http.get(_call_url(server, ws, "errs", "abroken")), 500, contains=f"async exploded {marker}")
    # A missing argument is the caller's fault.
    _error(await http.get(_call_url(server, ws, "errs", "multiply") + "?a=1"), 400)
    assert _ok_json(await http.get(_call_url(server, ws, "errs", "multiply") + "?a=1&b=3")) == 3  # control
    _error(await http.get(_call_url(server, ws, "errs", "nope")), 404)
    _error(await http.get(_call_url(server, ws, "no-such-service", "multiply") + "?a=1&b=3"), 404)


async def test_provider_gone_mid_call_fails_promptly(server, connect, http):
    entered, stop = asyncio.Event(), asyncio.Event()

    async def hang():
        entered.set()
        await asyncio.wait_for(stop.wait(), 60)  # no answer while the test runs

    prov = await connect(client_id=uid("prov"))
    await prov.register_service(
        {"id": "hang", "config": {"visibility": "public"}, "hang": hang, "ping": lambda: "pong"}
    )
    ws = prov.config.workspace
    assert _ok_json(await http.get(_call_url(server, ws, "hang", "ping"))) == "pong"  # control

    call = asyncio.create_task(http.get(_call_url(server, ws, "hang", "hang")))
    try:
        await asyncio.wait_for(entered.wait(), WAIT)
        await asyncio.wait_for(prov.disconnect(), 5)
        # The server knows its provider left: the request fails now, not at a 30 s call timeout.
        r = await asyncio.wait_for(asyncio.shield(call), WAIT)
    finally:
        stop.set()
        if not call.done():
            call.cancel()
    _error(r, range(500, 600))


# ---- generators --------------------------------------------------------------


async def test_generators_stream_ndjson_and_sse(server, connect, http):
    def count(n):
        for i in range(n):
            yield i

    async def acount(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield {"i": i}

    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "gen", "config": {"visibility": "public"}, "count": count, "acount": acount})
    ws = prov.config.workspace

    r = await http.get(_call_url(server, ws, "gen", "count") + "?n=3")
    assert r.status_code == 200, r.text[:300]
    assert _media(r) == "application/x-ndjson"
    assert _ndjson(r.text) == [0, 1, 2]

    r = await http.get(_call_url(server, ws, "gen", "acount") + "?n=3")
    assert r.status_code == 200 and _media(r) == "application/x-ndjson", (r.status_code, r.headers)
    assert _ndjson(r.text) == [{"i": 0}, {"i": 1}, {"i": 2}]

    r = await http.get(_call_url(server, ws, "gen", "acount") + "?n=2", headers={"Accept": "text/event-stream"})
    assert r.status_code == 200 and _media(r) == "text/event-stream", (r.status_code, r.headers)
    data = _sse_data(r.text)
    assert data[-1] == "[DONE]", data
    assert [json.loads(d) for d in data[:-1]] == [{"i": 0}, {"i": 1}]
    assert r.text.endswith("\n\n"), repr(r.text[-20:])


async def test_first_item_arrives_before_generator_ends(server, connect, http):
    release = asyncio.Event()

    async def gated():
        yield "first"
        await asyncio.wait_for(release.wait(), 30)
        yield "second"

    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "gated", "config": {"visibility": "public"}, "gated": gated})
    url = _call_url(server, prov.config.workspace, "gated", "gated")
    async with http.stream("GET", url) as r:
        assert r.status_code == 200
        assert _media(r) == "application/x-ndjson"
        lines = r.aiter_lines()
        first = await asyncio.wait_for(_next_nonempty(lines), WAIT)
        # The generator is still waiting for `release`: the first item was streamed, not buffered.
        assert json.loads(first) == "first"
        release.set()
        rest = await asyncio.wait_for(_collect(lines), WAIT)
    assert [json.loads(x) for x in rest] == ["second"]


async def _next_nonempty(lines):
    async for line in lines:
        if line.strip():
            return line
    raise AssertionError("stream ended before its first item")


async def _collect(lines):
    return [line async for line in lines if line.strip()]


async def test_error_mid_stream_ends_with_error_item(server, connect, http):
    marker = uid("broke")

    async def broken():
        yield 1
        yield 2
        raise RuntimeError(f"stream {marker}")

    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "broken", "config": {"visibility": "public"}, "broken": broken})
    url = _call_url(server, prov.config.workspace, "broken", "broken")

    r = await http.get(url)
    assert r.status_code == 200 and _media(r) == "application/x-ndjson", (r.status_code, r.headers, r.text[:300])
    items = _ndjson(r.text)
    assert items[:2] == [1, 2], items
    assert len(items) == 3, items
    assert items[2].get("type") == "error" and marker in items[2].get("error", ""), items[2]
    assert TRACEBACK not in items[2]["error"] and '  File "' not in items[2]["error"], items[2]

    r = await http.get(url, headers={"Accept": "text/event-stream"})
    assert r.status_code == 200 and _media(r) == "text/event-stream"
    data = _sse_data(r.text)
    assert data[-1] == "[DONE]", data
    assert [json.loads(d) for d in data[:2]] == [1, 2]
    err = json.loads(data[2])
    assert err.get("type") == "error" and marker in err.get("error", ""), err
    assert len(data) == 4, data


async def test_client_disconnect_closes_the_generator(server, connect, http):
    # Python-only detail: a sync generator, so `close()` always finds it suspended at a yield.
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def ticks():
        i = 0
        try:
            while True:
                yield i
                i += 1
        except GeneratorExit:
            loop.call_soon(closed.set)
            raise

    prov = await connect(client_id=uid("prov"))
    await prov.register_service({"id": "ticks", "config": {"visibility": "public"}, "ticks": ticks})
    url = _call_url(server, prov.config.workspace, "ticks", "ticks")
    async with http.stream("GET", url) as r:
        assert r.status_code == 200
        first = await asyncio.wait_for(_next_nonempty(r.aiter_lines()), WAIT)
        assert json.loads(first) == 0
        assert not closed.is_set()
    # Leaving the block closed the connection mid-stream.
    try:
        await asyncio.wait_for(closed.wait(), WAIT)
    except asyncio.TimeoutError:
        pytest.fail(f"the provider's generator was not closed within {WAIT}s of the client leaving")


# ---- ASGI apps ---------------------------------------------------------------


def _text(v) -> str:
    return bytes(v).decode() if isinstance(v, (bytes, bytearray, memoryview)) else str(v)


async def _asgi_serve(args, context=None):
    scope, receive, send = args["scope"], args["receive"], args["send"]
    body = b""
    for _ in range(1000):
        message = await receive()
        body += bytes(message.get("body") or b"")
        if not message.get("more_body"):
            break
    headers = {_text(k).lower(): _text(v) for k, v in scope["headers"]}
    user = (context or {}).get("user") or {}
    report = {
        "type": scope.get("type"),
        "method": scope.get("method"),
        "path": scope.get("path"),
        "root_path": scope.get("root_path"),
        "query_string": _text(scope.get("query_string", b"")),
        "query_string_type": type(scope.get("query_string")).__name__,
        "header_name_type": type(scope["headers"][0][0]).__name__ if scope["headers"] else None,
        "workspace": scope.get("workspace"),
        "service_id": scope.get("service_id"),
        "x_custom": headers.get("x-custom"),
        "body": body.decode(),
        "user": user.get("id"),
        "ws": (context or {}).get("ws"),
    }
    await asyncio.sleep(0.1)  # the status must not be lost when the app takes its time
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [[b"content-type", b"application/json"], [b"x-test", b"1"]],
        }
    )
    data = json.dumps(report).encode()
    await send({"type": "http.response.body", "body": data[:7], "more_body": True})
    await send({"type": "http.response.body", "body": data[7:], "more_body": False})


async def test_asgi_app_with_context(own_server, connect, http):
    sub = uid("asgi")
    token = user_token(own_server.secret, sub)
    prov = await connect(token=token, client_id=uid("prov"))
    ws = prov.config.workspace
    await prov.register_service(
        {
            "id": "asgiapp",
            "type": "asgi",
            "config": {"visibility": "public", "require_context": True},
            "serve": _asgi_serve,
        }
    )
    url = f"{own_server.url}/{ws}/apps/asgiapp/some/path?x=1&y=2"

    r = await http.post(url, content=b"hello asgi", headers={"X-Custom": "yes", "Content-Type": "text/plain"})
    assert r.status_code == 201, r.text[:500]
    assert r.headers.get("x-test") == "1"
    assert _media(r) == "application/json"
    got = r.json()
    assert got["type"] == "http"
    assert got["method"] == "POST"
    assert got["path"] == "/some/path"
    assert got["root_path"] == f"/{ws}/apps/asgiapp"
    assert got["query_string"] == "x=1&y=2"
    assert got["query_string_type"] == "bytes"
    assert got["header_name_type"] == "bytes"
    assert got["workspace"] == ws
    assert isinstance(got["service_id"], str) and "asgiapp" in got["service_id"], got["service_id"]
    assert got["x_custom"] == "yes"
    assert got["body"] == "hello asgi"
    assert got["user"] == ANON_USER and got["ws"] == ANON_WS, got

    # With a token for the workspace the app sees that user.
    r = await http.get(f"{own_server.url}/{ws}/apps/asgiapp/", headers=_bearer(token))
    assert r.status_code == 201, r.text[:500]
    got = r.json()
    assert got["method"] == "GET" and got["path"] == "/" and got["body"] == ""
    assert got["user"] == sub and got["ws"] == ws, got


# ---- identity and permissions -----------------------------------------------


async def test_anonymous_caller_context(server, connect, http):
    prov = await connect(client_id=uid("prov"))
    await prov.register_service(WHOAMI)
    got = _ok_json(await http.get(_call_url(server, prov.config.workspace, "who", "whoami")))
    assert got["ws"] == ANON_WS
    assert got["user"] == ANON_USER
    assert isinstance(got["from"], str) and got["from"].startswith(f"{ANON_WS}/"), got


async def test_token_forms_run_in_the_url_workspace(own_server, connect, http):
    sub = uid("alice")
    token = user_token(own_server.secret, sub)
    prov = await connect(token=token, client_id=uid("prov"))
    ws = prov.config.workspace
    assert ws == f"ws-user-{sub}"
    await prov.register_service(WHOAMI)
    url = _call_url(own_server, ws, "who", "whoami")
    forms = {
        "bearer": {"Authorization": f"Bearer {token}"},
        "basic": {"Authorization": "Basic " + base64.b64encode(f"x:{token}".encode()).decode()},
        "raw": {"Authorization": token},
        "cookie": {"Cookie": f"access_token={token}"},
    }
    for name, headers in forms.items():
        got = _ok_json(await http.get(url, headers=headers))
        assert (got["ws"], got["user"]) == (ws, sub), f"{name}: {got}"
    # Root has permission everywhere: the call runs in the URL workspace as root.
    got = _ok_json(await http.get(url, headers=_bearer(root_token(own_server.secret))))
    assert (got["ws"], got["user"]) == (ws, "root"), got


async def test_token_without_permission_runs_in_own_workspace(own_server, connect, http):
    prov = await connect(token=user_token(own_server.secret, uid("owner")), client_id=uid("prov"))
    await prov.register_service(WHOAMI)
    other = uid("bob")
    got = _ok_json(
        await http.get(
            _call_url(own_server, prov.config.workspace, "who", "whoami"),
            headers=_bearer(user_token(own_server.secret, other)),
        )
    )
    assert (got["ws"], got["user"]) == (f"ws-user-{other}", other), got


async def test_invalid_tokens_are_401_never_anonymous(own_server, connect, http):
    prov = await connect(client_id=uid("prov"))
    await prov.register_service(WHOAMI)
    url = _call_url(own_server, prov.config.workspace, "who", "whoami")
    now = int(time.time())
    good = user_token(own_server.secret, uid("carol"))
    head, payload, sig = good.split(".")
    forged_payload = base64.urlsafe_b64encode(
        json.dumps(claims(sub="root", roles=["admin"])).encode()
    ).rstrip(b"=").decode()
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    bad = {
        "garbage": "garbage",
        "three garbage parts": "a.b.c",
        "other secret": root_token(secrets.token_hex(24)),
        "expired": sign(claims(sub="root", roles=["admin"], iat=now - 7200, exp=now - 3600), own_server.secret),
        "tampered payload": f"{head}.{forged_payload}.{sig}",
        "alg none": f"{none_header}.{forged_payload}.",
        "wrong audience": sign(claims(sub="root", roles=["admin"], aud="someone-else"), own_server.secret),
    }
    for name, token in bad.items():
        _error(await http.get(url, headers=_bearer(token)), 401)
        _error(await http.get(url, headers={"Authorization": token}), 401)
        if name in ("garbage", "other secret", "alg none"):
            _error(await http.get(url, headers={"Cookie": f"access_token={token}"}), 401)
    # Controls: a valid token and no token at all.
    assert _ok_json(await http.get(url, headers=_bearer(good)))["user"] != ANON_USER
    assert _ok_json(await http.get(url))["user"] == ANON_USER


async def test_forged_context_is_ignored(server, connect, http):
    prov = await connect(client_id=uid("prov"))
    await prov.register_service(WHOAMI)
    url = _call_url(server, prov.config.workspace, "who", "whoami")
    forged = {"ws": "victim", "user": {"id": "root", "roles": ["admin"]}, "from": "victim/admin-client"}
    attempts = {
        "body kwarg": dict(content=json.dumps({"context": forged}), headers={"Content-Type": "application/json"}),
        "positional": dict(content=json.dumps([forged]), headers={"Content-Type": "application/json"}),
        "msgpack kwarg": dict(
            content=msgpack.packb({"context": forged}),
            headers={"Content-Type": "application/msgpack", "Accept": "application/json"},
        ),
    }
    for name, kwargs in attempts.items():
        r = await http.post(url, **kwargs)
        _assert_not_forged(r, name)
    r = await http.get(url, params={"context": json.dumps(forged)})
    _assert_not_forged(r, "query")


def _assert_not_forged(r: httpx.Response, what: str) -> None:
    if r.status_code == 400:  # refusing the attempt is fine
        _error(r, 400)
        return
    got = _ok_json(r)
    assert got["user"] == ANON_USER and got["ws"] == ANON_WS, f"{what}: the caller forged the context: {got}"
    assert not str(got["from"]).startswith("victim"), f"{what}: {got}"


async def test_protected_service_tokens_and_cookies(origin_server, clients, http):
    sub = uid("dave")
    token = user_token(origin_server.secret, sub)
    prov = await clients(origin_server, token=token, client_id=uid("prov"))
    ws = prov.config.workspace
    await prov.register_service({"id": "vault", "config": {"visibility": "protected"}, "peek": lambda: "secret"})
    url = _call_url(origin_server, ws, "vault", "peek")
    cookie = {"Cookie": f"access_token={token}"}

    _error(await http.get(url), 403)
    assert _ok_json(await http.get(url, headers=_bearer(token))) == "secret"
    assert _ok_json(await http.get(url, headers=cookie)) == "secret"
    # A cross-site page cannot ride on the cookie: it counts as anonymous.
    _error(await http.get(url, headers={**cookie, "Origin": EVIL_ORIGIN}), 403)
    assert _ok_json(await http.get(url, headers={**cookie, "Origin": ALLOWED_ORIGIN})) == "secret"
    # A bearer token is not a cookie: it works from any origin.
    assert _ok_json(await http.get(url, headers={**_bearer(token), "Origin": EVIL_ORIGIN})) == "secret"
    # Another user's token has no permission here.
    _error(await http.get(url, headers=_bearer(user_token(origin_server.secret, uid("eve")))), 403)

    # The service info route obeys the same rule.
    info_url = f"{origin_server.url}/{ws}/services/vault"
    _error(await http.get(info_url), 403)
    info = _ok_json(await http.get(info_url, headers=_bearer(token)))
    assert ":vault" in str(info.get("id")) and info.get("name") == "vault", info
    assert info["config"]["visibility"] == "protected", info


async def test_service_listing_visibility(own_server, connect, http):
    sub = uid("frank")
    token = user_token(own_server.secret, sub)
    prov = await connect(token=token, client_id=uid("prov"))
    ws = prov.config.workspace
    for svc_id, vis in (("pub", "public"), ("prot", "protected"), ("unl", "unlisted")):
        await prov.register_service({"id": svc_id, "config": {"visibility": vis}, "ping": lambda: "pong"})

    r = await http.get(f"{own_server.url}/{ws}/services")
    assert r.status_code == 307, r.text[:300]
    assert r.headers["location"] == f"/{ws}/services/"

    def names(listing):
        # Ids as clients see them: `client_id:svc` (maybe with `@app`).
        assert isinstance(listing, list), listing
        for entry in listing:
            assert ":" in entry["id"], f"id is not `client_id:svc`: {entry['id']}"
        return {entry["id"].rsplit(":", 1)[1].split("@")[0] for entry in listing}

    anon = names(_ok_json(await http.get(f"{own_server.url}/{ws}/services/")))
    assert "pub" in anon and "prot" not in anon and "unl" not in anon, anon
    owner = names(_ok_json(await http.get(f"{own_server.url}/{ws}/services/", headers=_bearer(token))))
    assert {"pub", "prot"} <= owner and "unl" not in owner, owner
    # Unlisted: never listed, but callable by id.
    assert _ok_json(await http.get(_call_url(own_server, ws, "unl", "ping"))) == "pong"


async def test_workspace_info(own_server, connect, http):
    sub = uid("gina")
    token = user_token(own_server.secret, sub)
    prov = await connect(token=token, client_id=uid("prov"))
    ws = prov.config.workspace
    assert _ok_json(await http.get(f"{own_server.url}/{ws}/info", headers=_bearer(token)))["id"] == ws
    assert _ok_json(await http.get(f"{own_server.url}/{ws}/info", headers=_bearer(root_token(own_server.secret))))[
        "id"
    ] == ws
    _error(await http.get(f"{own_server.url}/{ws}/info"), 403)
    _error(await http.get(f"{own_server.url}/{ws}/info", headers=_bearer(user_token(own_server.secret, uid("h")))), 403)
    missing = uid("ws-missing-")
    _error(await http.get(f"{own_server.url}/{missing}/info", headers=_bearer(root_token(own_server.secret))), 404)
    # A user whose own workspace was never created.
    ghost = uid("ghost")
    _error(
        await http.get(f"{own_server.url}/ws-user-{ghost}/info", headers=_bearer(user_token(own_server.secret, ghost))),
        404,
    )


async def test_cors_headers_and_preflight(origin_server, clients, http):
    prov = await clients(origin_server, client_id=uid("prov"))
    await prov.register_service({"id": "calc", "config": {"visibility": "public"}, "multiply": _multiply})
    url = _call_url(origin_server, prov.config.workspace, "calc", "multiply") + "?a=2&b=3"

    r = await http.get(url, headers={"Origin": EVIL_ORIGIN})
    assert _ok_json(r) == 6
    assert r.headers.get("access-control-allow-origin") == "*", dict(r.headers)
    assert "access-control-allow-credentials" not in r.headers, dict(r.headers)

    r = await http.get(url, headers={"Origin": ALLOWED_ORIGIN})
    assert _ok_json(r) == 6
    assert r.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN, dict(r.headers)
    assert r.headers.get("access-control-allow-credentials") == "true", dict(r.headers)
    vary = [v.strip().lower() for v in ",".join(r.headers.get_list("vary")).split(",")]
    assert "origin" in vary, dict(r.headers)

    r = await http.request(
        "OPTIONS",
        url,
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert r.status_code in (200, 204), (r.status_code, r.text[:300])
    methods = r.headers.get("access-control-allow-methods", "")
    assert "POST" in methods.upper() or methods.strip() == "*", dict(r.headers)


# ---- limits --------------------------------------------------------------------


async def test_rate_limit_gives_429_with_retry_after(clients, http):
    async with _spawned(clients, "--rate-limit", "5", "--rate-burst", "5") as (srv, prov):
        await prov.register_service({"id": "calc", "config": {"visibility": "public"}, "multiply": _multiply})
        url = _call_url(srv, prov.config.workspace, "calc", "multiply") + "?a=2&b=3"
        statuses = []
        limited = None
        for _ in range(20):
            r = await http.get(url)
            statuses.append(r.status_code)
            if r.status_code == 429 and limited is None:
                limited = r
        assert statuses[0] == 200, statuses
        assert set(statuses) <= {200, 429}, statuses
        assert limited is not None, f"20 quick requests at 5/s (burst 5) were never limited: {statuses}"
        retry = limited.headers.get("retry-after", "")
        assert retry.strip().isdigit(), f"429 without a usable Retry-After: {dict(limited.headers)}"
        _error(limited, 429)
        # Health checks are never limited.
        health = [(await http.get(f"{srv.url}/health")).status_code for _ in range(20)]
        assert health == [200] * 20, health
        # The limit is per identity: a signed-in caller has its own budget.
        token = user_token(srv.secret, uid("ivan"))
        assert _ok_json(await http.get(url, headers=_bearer(token))) == 6


async def test_oversized_body_is_413(clients, http):
    async with _spawned(clients, "--max-body", "1000") as (srv, prov):
        await prov.register_service({"id": "echo", "config": {"visibility": "public"}, "echo": lambda data: len(data)})
        url = _call_url(srv, prov.config.workspace, "echo", "echo")
        json_ct = {"Content-Type": "application/json"}
        assert _ok_json(await http.post(url, content=json.dumps({"data": "x" * 500}), headers=json_ct)) == 500
        big = json.dumps({"data": "x" * 5000}).encode()
        _error(await http.post(url, content=big, headers=json_ct), 413)

        # Without Content-Length (chunked): the server has to count. First the
        # whole body in one chunk, then as a stream of small chunks, which the
        # client is still sending when the server answers; the client must get
        # the 413, not a connection reset (the server has to read, and drop, the
        # rest of a small oversized body, or linger, before it closes).
        async def one_chunk():
            yield big

        async def chunks():
            for i in range(0, len(big), 512):
                yield big[i : i + 512]

        _error(await http.post(url, content=one_chunk(), headers=json_ct), 413)
        try:
            r = await http.post(url, content=chunks(), headers=json_ct)
        except httpx.TransportError as exc:
            pytest.fail(f"a streamed oversized body got {exc!r} instead of a 413 response")
        _error(r, 413)
        # A small body still works afterwards.
        assert _ok_json(await http.post(url, content=json.dumps({"data": "yy"}), headers=json_ct)) == 2


# ---- a real ASGI framework ------------------------------------------------------


def _fastapi_app():
    app = FastAPI()

    @app.get("/")
    async def home():
        return {"hello": "world"}

    @app.get("/items/{item_id}")
    async def item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

    @app.post("/echo")
    async def echo(request: Request):
        body = await request.body()
        return {"len": len(body), "link": str(request.url_for("item", item_id=7))}

    @app.get("/stream")
    async def stream():
        async def gen():
            for i in range(3):
                yield f"chunk{i}\n"
                await asyncio.sleep(0.05)

        return StreamingResponse(gen(), media_type="text/plain")

    return app


async def test_a_fastapi_app_registered_with_hypha_rpc_is_served(server, connect, http):
    """What Python users do: hypha_rpc.utils.serve.register_asgi_service(server, id, FastAPI())."""
    from hypha_rpc.utils.serve import register_asgi_service

    prov = await connect(client_id=uid("fast"))
    await register_asgi_service(prov, "fast", _fastapi_app())
    base = f"{server.url}/{prov.config.workspace}/apps/fast"

    assert _ok_json(await http.get(f"{base}/")) == {"hello": "world"}
    assert _ok_json(await http.get(f"{base}/items/5?q=x")) == {"item_id": 5, "q": "x"}
    # FastAPI's own validation answers through the bridge with its status.
    assert (await http.get(f"{base}/items/not-a-number")).status_code == 422
    got = _ok_json(await http.post(f"{base}/echo", content=b"x" * 5000))
    assert got["len"] == 5000
    # Links the app builds carry the mount (scope root_path).
    assert got["link"].endswith(f"/{prov.config.workspace}/apps/fast/items/7"), got["link"]
    r = await http.get(f"{base}/stream")
    assert r.status_code == 200 and r.text == "chunk0\nchunk1\nchunk2\n"
    r = await http.get(f"{base}/openapi.json")
    assert r.status_code == 200 and r.json()["info"]["title"] == "FastAPI"
