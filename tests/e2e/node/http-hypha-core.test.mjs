// hypha-core 0.20.86's own Deno tests of its HTTP API (test/deno/*.js; reference
// http-and-cluster.md §2.8), rewritten against our native server. hypha-core registers the
// services on its in-process root API in workspace `default`; here a Node hypha-rpc client
// connected as root in `default` plays that part. The expectations are kept, except three that
// are insecure and are inverted:
//   - context-injection-test.js:277 (a caller-passed context is merged)  -> the server's context wins;
//   - jwt-auth-test.js:246 (an invalid Bearer falls back to anonymous)    -> 401;
//   - the anonymous HTTP context is `ws-anonymous`/`anonymouz-http`, not the URL workspace
//     (context-injection-test.js:329 expected `default` for an anonymous caller).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, rootToken, startServer, userToken } from "./server.mjs";

const T = { timeout: 30000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("hypha-core's HTTP expectations (test/deno), against the native server", () => {
  let server;
  let api;
  let root;
  const get = (path, headers = {}) => fetch(`${server.url}${path}`, { headers });
  const post = (path, body, headers = {}) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const asRoot = () => ({ authorization: `Bearer ${root}` });

  before(async () => {
    server = await startServer();
    root = rootToken(server.secret);
    api = await connect(server, { token: root, workspace: "default", client_id: "hypha-core-app" });
    await api.registerService({
      id: "test-functions-service",
      config: { visibility: "public" },
      sayHello: (name) => `Hello, ${name}!`,
    });
    await api.registerService({
      id: "test-asgi-app",
      type: "asgi",
      config: {},
      serve: async ({ scope, receive, send }) => {
        await receive();
        const routes = {
          "/": [200, "text/html", "<h1>ASGI App Home</h1>"],
          "/hello": [200, "text/plain", "Hello from ASGI!"],
          "/json": [200, "application/json", JSON.stringify({ path: scope.path, method: scope.method })],
          "/missing": [404, "text/plain", "Not Found"],
          "/crash": [500, "text/plain", "Internal Server Error"],
        };
        if (scope.path === "/stream") {
          await send({ type: "http.response.start", status: 200, headers: [["content-type", "text/plain"]] });
          for (const part of ["chunk-1 ", "chunk-2 ", "chunk-3"]) {
            await sleep(50);
            await send({ type: "http.response.body", body: new TextEncoder().encode(part), more_body: true });
          }
          await send({ type: "http.response.body", body: new Uint8Array(0), more_body: false });
          return;
        }
        const [status, type, body] = routes[scope.path] ?? routes["/missing"];
        await send({ type: "http.response.start", status, headers: [["content-type", type]] });
        await send({ type: "http.response.body", body: new TextEncoder().encode(body) });
      },
    });
    await api.registerService({
      id: "ctx",
      config: { visibility: "public", require_context: true },
      probe: (message, context) => ({ message, ws: context?.ws, user: context?.user?.id, from: context?.from }),
      nested: { deeply: { level2: (context) => ({ ws: context?.ws }) } },
    });
    await api.registerService({
      id: "plain",
      config: { visibility: "public" },
      count: (...args) => args.length,
    });
    await api.registerService({
      id: "streams",
      config: { visibility: "public" },
      asyncGen: async function* () {
        for (let i = 0; i < 3; i++) yield { index: i };
      },
      syncGen: function* () {
        for (let i = 0; i < 4; i++) yield i;
      },
      promised: async () => (async function* () {
        for (let i = 0; i < 3; i++) yield `p${i}`;
      })(),
      failing: async function* () {
        yield 1;
        yield 2;
        throw new Error("generator failed after two items");
      },
    });
  });

  after(async () => {
    await api?.disconnect().catch(() => {});
    await server?.stop();
  });

  // asgi-tests.js:70
  it("serves /health", T, async () => {
    const res = await get("/health");
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, "ok");
  });

  // asgi-tests.js:90
  it("describes a registered service and calls it with a query argument", T, async () => {
    const info = await (await get("/default/services/test-functions-service")).json();
    assert.equal(info.id, "default/hypha-core-app:test-functions-service");
    const res = await get("/default/services/test-functions-service/sayHello?name=Deno");
    assert.equal(res.status, 200);
    assert.equal(await res.json(), "Hello, Deno!");
  });

  // asgi-tests.js:135 (the app is protected, as `config: {}` means: called with root's token)
  it("routes ASGI paths to the app", T, async () => {
    assert.match(await (await get("/default/apps/test-asgi-app/", asRoot())).text(), /ASGI App Home/);
    assert.equal(await (await get("/default/apps/test-asgi-app/hello", asRoot())).text(), "Hello from ASGI!");
    const json = await (await get("/default/apps/test-asgi-app/json", asRoot())).json();
    assert.equal(json.path, "/json");
    // Protected: an anonymous caller is refused.
    assert.equal((await get("/default/apps/test-asgi-app/hello")).status, 403);
  });

  // asgi-tests.js:231 (without its timing assertion: the three chunks all arrive)
  it("streams an ASGI response body", T, async () => {
    const res = await get("/default/apps/test-asgi-app/stream", asRoot());
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "chunk-1 chunk-2 chunk-3");
  });

  // asgi-tests.js:298
  it("passes an ASGI app's error statuses through", T, async () => {
    const missing = await get("/default/apps/test-asgi-app/missing", asRoot());
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "Not Found");
    const crash = await get("/default/apps/test-asgi-app/crash", asRoot());
    assert.equal(crash.status, 500);
    assert.equal(await crash.text(), "Internal Server Error");
  });

  // context-injection-test.js:329, with the anonymous identity of a secure server
  it("gives require_context functions the server's context for HTTP callers", T, async () => {
    const anon = await (await get("/default/services/ctx/probe?message=hello")).json();
    assert.deepEqual(
      { message: anon.message, ws: anon.ws, user: anon.user },
      { message: "hello", ws: "ws-anonymous", user: "anonymouz-http" },
    );
    assert.match(anon.from, /^ws-anonymous\//);
    const asRootCaller = await (await get("/default/services/ctx/probe?message=hi", asRoot())).json();
    assert.equal(asRootCaller.ws, "default");
    assert.equal(asRootCaller.user, "root");
  });

  // context-injection-test.js:198
  it("gives nested require_context functions the context too", T, async () => {
    const res = await (await get("/default/services/ctx/nested.deeply.level2", asRoot())).json();
    assert.equal(res.ws, "default");
  });

  // context-injection-test.js:156
  it("passes no context to a function that did not ask for one", T, async () => {
    assert.equal(await (await get("/default/services/plain/count")).json(), 0);
  });

  // context-injection-test.js:277, inverted: a caller-passed context is never merged
  it("does not let a caller forge the context", T, async () => {
    const forged = { ws: "victim-ws", user: { id: "root" }, from: "victim-ws/admin-client" };
    const res = await post("/default/services/ctx/probe", { message: "x", context: forged });
    assert.equal(res.status, 200);
    const seen = await res.json();
    assert.equal(seen.ws, "ws-anonymous");
    assert.equal(seen.user, "anonymouz-http");
    assert.notEqual(seen.from, forged.from);
  });

  // streaming-test.js:78, :201, :308
  it("streams generators as NDJSON (async, sync, promised), by GET and POST", T, async () => {
    const lines = async (res) => (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    for (const res of [await get("/default/services/streams/asyncGen"), await post("/default/services/streams/asyncGen", {})]) {
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/x-ndjson");
      assert.deepEqual(await lines(res), [{ index: 0 }, { index: 1 }, { index: 2 }]);
    }
    assert.deepEqual(await lines(await get("/default/services/streams/syncGen")), [0, 1, 2, 3]);
    assert.deepEqual(await lines(await get("/default/services/streams/promised")), ["p0", "p1", "p2"]);
  });

  // streaming-test.js:383
  it("ends a failing generator's stream with an error item", T, async () => {
    const res = await get("/default/services/streams/failing");
    assert.equal(res.status, 200);
    const items = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(items.slice(0, 2), [1, 2]);
    const last = items.at(-1);
    assert.equal(last.type, "error");
    assert.match(last.error, /generator failed after two items/);
  });

  // jwt-auth-test.js:56, :184 (identity through a require_context probe, not a tautology)
  it("identifies Bearer token users", T, async () => {
    for (const user of ["alice", "bob", "charlie"]) {
      const token = userToken(server.secret, user);
      const seen = await (await get("/default/services/ctx/probe?message=m", { authorization: `Bearer ${token}` })).json();
      assert.equal(seen.user, user);
      assert.equal(seen.ws, `ws-user-${user}`);
    }
  });

  // jwt-auth-test.js:246, inverted: an invalid credential is a 401, never anonymous
  it("refuses invalid credentials instead of falling back to anonymous", T, async () => {
    for (const authorization of ["Bearer invalid-token-format", "NotBearer sometoken"]) {
      const res = await post("/default/services/ws/echo", { data: "x" }, { authorization });
      assert.equal(res.status, 401, authorization);
      assert.equal((await res.json()).success, false);
    }
  });

  // jwt-auth-test.js:337: the workspace manager over HTTP (Python's parameter name `data`)
  it("reaches the workspace manager as service `ws`", T, async () => {
    const res = await post("/default/services/ws/echo", { data: "hello" });
    assert.equal(res.status, 200);
    assert.equal(await res.json(), "hello");
  });
});
