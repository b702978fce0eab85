// The HTTP service API of hypha-core-server, end to end, with JavaScript
// providers (npm `hypha-rpc`) and plain `fetch` callers.
//
// JS-only behaviour tested here (the Python file covers Python providers and
// the security checks): query kwargs mapped onto JS parameter names, JSON
// arrays as positional arguments, msgpack in and out, NDJSON/SSE/msgpack
// streaming from JS generators, an ASGI app and a "functions" app written in
// JS, and the error mapping of JS exceptions. Routes with no provider-specific
// behaviour (health, metrics, listing, redirects, 405) are tested here too.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decode, decodeMulti, encode } from "@msgpack/msgpack";
import { connect, startServer, uid } from "./server.mjs";

const T = { timeout: 30000 };
const HTTP_TIMEOUT = 15000; // bound of every HTTP request, body included
const WAIT = 10000; // bound of every wait for something the server should do promptly

// ---- helpers -----------------------------------------------------------------

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** fetch with no redirect following and a bound on the whole exchange. */
function http(url, init = {}) {
  return fetch(url, { redirect: "manual", signal: AbortSignal.timeout(HTTP_TIMEOUT), ...init });
}

const mediaType = (res) => (res.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();

async function okJson(res, status = 200) {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text.slice(0, 500)}`);
  assert.equal(mediaType(res), "application/json", `content-type ${res.headers.get("content-type")}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** A JSON error `{"success": false, "detail": "..."}`; returns the detail. */
async function jsonError(res, status, contains) {
  const text = await res.text();
  const ok = typeof status === "function" ? status(res.status) : res.status === status;
  assert.ok(ok, `expected ${status}, got ${res.status}: ${text.slice(0, 500)}`);
  assert.equal(mediaType(res), "application/json", `error is not JSON (${res.headers.get("content-type")}): ${text.slice(0, 300)}`);
  const body = JSON.parse(text);
  assert.equal(body.success, false, text);
  assert.equal(typeof body.detail, "string", text);
  assert.ok(body.detail.length > 0, text);
  assert.ok(!body.detail.includes("Traceback (most recent call last)"), `traceback leaked: ${body.detail}`);
  assert.ok(!/\n\s+at\s/.test(body.detail), `JS stack leaked: ${body.detail}`);
  if (contains !== undefined) assert.ok(body.detail.includes(contains), `${contains} not in ${body.detail}`);
  return body.detail;
}

async function msgpackBody(res, status = 200) {
  const buf = new Uint8Array(await res.arrayBuffer());
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${new TextDecoder().decode(buf).slice(0, 300)}`);
  assert.equal(mediaType(res), "application/msgpack", `content-type ${res.headers.get("content-type")}`);
  return buf;
}

/** Reads a streamed body line by line, each read bounded by `ms`. */
function lineReader(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  return {
    async next(ms = WAIT) {
      for (;;) {
        const i = buf.indexOf("\n");
        if (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) return line;
          continue;
        }
        const { value, done } = await withTimeout(reader.read(), ms, "reading the stream");
        if (done) {
          const rest = buf.trim();
          buf = "";
          return rest || null;
        }
        buf += decoder.decode(value, { stream: true });
      }
    },
    async rest(ms = WAIT) {
      const lines = [];
      for (let line = await this.next(ms); line !== null; line = await this.next(ms)) lines.push(line);
      return lines;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

const ndjson = (text) =>
  text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

/** The `data:` payloads of an SSE body, in order. */
function sseData(text) {
  const out = [];
  for (const event of text.replace(/\r\n/g, "\n").split("\n\n")) {
    for (const line of event.split("\n")) {
      if (line.startsWith("data:")) out.push(line.slice(5).replace(/^ /, ""));
    }
  }
  return out;
}

const txt = (v) => (typeof v === "string" ? v : new TextDecoder().decode(v));

// ---- the suite ---------------------------------------------------------------

describe("HTTP service API (JS providers, fetch callers)", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  const call = (ws, svc, fn, query = "") => `${server.url}/${ws}/services/${svc}/${fn}${query}`;

  async function provider(t, opts = {}) {
    return connect(server, { client_id: uid("prov"), ...opts }, t);
  }

  // ---- routes with no provider ------------------------------------------------

  it("serves /health, /health/liveness and /health/readiness", T, async (t) => {
    const prov = await provider(t);
    await prov.registerService({ id: "h", config: { visibility: "public" }, ping: () => "pong" });
    const health = await okJson(await http(`${server.url}/health`));
    assert.equal(health.status, "ok");
    for (const key of ["clients", "services", "uptime"]) {
      assert.equal(typeof health[key], "number", `health.${key}: ${JSON.stringify(health)}`);
    }
    assert.ok(health.clients >= 1, `a client is connected: ${JSON.stringify(health)}`);
    assert.ok(health.services >= 1, `a service is registered: ${JSON.stringify(health)}`);
    assert.ok(health.uptime >= 0);
    for (const path of ["/health/liveness", "/health/readiness"]) {
      assert.deepEqual(await okJson(await http(`${server.url}${path}`)), { status: "ok" }, path);
    }
  });

  it("serves Prometheus metrics at /metrics", T, async (t) => {
    const prov = await provider(t);
    await prov.registerService({ id: "m", config: { visibility: "public" }, ping: () => "pong" });
    assert.equal(await okJson(await http(call(prov.config.workspace, "m", "ping"))), "pong");
    const res = await http(`${server.url}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200, text.slice(0, 300));
    assert.equal(mediaType(res), "text/plain");
    for (const name of [
      "hypha_http_requests_total",
      "hypha_connections",
      "hypha_clients",
      "hypha_services",
      "hypha_frames_routed_total",
      "hypha_http_request_duration_seconds_bucket",
    ]) {
      assert.ok(new RegExp(`^${name}[{ ]`, "m").test(text), `${name} missing from /metrics:\n${text.slice(0, 2000)}`);
    }
    const requests = text.split("\n").filter((l) => l.startsWith("hypha_http_requests_total{"));
    assert.ok(
      requests.some((l) => /route="/.test(l) && /status="200"/.test(l)),
      `no hypha_http_requests_total{route=...,status="200"} sample:\n${requests.join("\n")}`,
    );
    // Gauges count what is there: at least our provider and its service.
    const gauge = (name) =>
      text
        .split("\n")
        .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
        .reduce((sum, l) => sum + Number(l.trim().split(/\s+/).pop()), 0);
    assert.ok(gauge("hypha_clients") >= 1, "hypha_clients counts the connected provider");
    assert.ok(gauge("hypha_services") >= 1, "hypha_services counts its service");
  });

  it("lists services, redirects /services, and describes one service", T, async (t) => {
    const prov = await provider(t);
    const ws = prov.config.workspace;
    await prov.registerService({ id: "listed", name: "Listed One", config: { visibility: "public" }, ping: () => 1 });
    await prov.registerService({ id: "hidden", config: { visibility: "unlisted" }, ping: () => 2 });

    const redirect = await http(`${server.url}/${ws}/services`);
    assert.equal(redirect.status, 307);
    assert.equal(redirect.headers.get("location"), `/${ws}/services/`);

    const listing = await okJson(await http(`${server.url}/${ws}/services/`));
    assert.ok(Array.isArray(listing), JSON.stringify(listing));
    const ids = listing.map((s) => s.id);
    assert.ok(ids.some((id) => id === `${prov.config.client_id}:listed` || id.endsWith(":listed")), JSON.stringify(ids));
    assert.ok(!ids.some((id) => /:hidden(@|$)/.test(id)), `unlisted service listed: ${JSON.stringify(ids)}`);
    const entry = listing.find((s) => s.id.endsWith(":listed"));
    assert.equal(entry.name, "Listed One");

    const info = await okJson(await http(`${server.url}/${ws}/services/listed`));
    assert.ok(String(info.id).includes(":listed"), JSON.stringify(info));
    assert.equal(info.name, "Listed One");
    assert.equal(info.config.visibility, "public");
    await jsonError(await http(`${server.url}/${ws}/services/no-such-service`), 404);
    // Unlisted: not listed, but reachable by id.
    assert.equal(await okJson(await http(call(ws, "hidden", "ping"))), 2);
  });

  // ---- calls -----------------------------------------------------------------

  it("passes GET query parameters to a JS provider by name", T, async (t) => {
    const appId = uid("app");
    const prov = await provider(t, { app_id: appId });
    const ws = prov.config.workspace;
    await prov.registerService({
      id: "calc",
      config: { visibility: "public" },
      multiply: (a, b) => a * b,
      sub: (a, b) => a - b,
      async describe(name, count) {
        return { name, count, type: typeof count };
      },
      nested: { inner: { f: (x) => ({ got: x }) } },
    });
    assert.equal(await okJson(await http(call(ws, "calc", "multiply", "?a=9&b=22"))), 198);
    // By name, not position.
    assert.equal(await okJson(await http(call(ws, "calc", "sub", "?b=2&a=9"))), 7);
    assert.deepEqual(await okJson(await http(call(ws, "calc", "describe", "?count=3&name=abc"))), {
      name: "abc",
      count: 3,
      type: "number",
    });
    assert.deepEqual(await okJson(await http(call(ws, "calc", "nested.inner.f", "?x=deep"))), { got: "deep" });
    // The three spellings of a service id.
    assert.equal(await okJson(await http(call(ws, `${prov.config.client_id}:calc`, "multiply", "?a=2&b=3"))), 6);
    assert.equal(await okJson(await http(call(ws, `calc@${appId}`, "multiply", "?a=4&b=3"))), 12);
    await jsonError(await http(call(ws, `calc@${uid("otherapp")}`, "multiply", "?a=4&b=3")), 404);
  });

  it("takes POST JSON objects as keyword and arrays as positional arguments", T, async (t) => {
    const prov = await provider(t);
    const ws = prov.config.workspace;
    await prov.registerService({
      id: "calc",
      config: { visibility: "public" },
      multiply: (a, b) => a * b,
      sub: (a, b) => a - b,
    });
    const post = (fn, body, type = "application/json") =>
      http(call(ws, "calc", fn), { method: "POST", headers: { "Content-Type": type }, body });
    assert.equal(await okJson(await post("multiply", "[6, 7]")), 42);
    assert.equal(await okJson(await post("sub", "[9, 2]")), 7);
    assert.equal(await okJson(await post("sub", '{"b": 2, "a": 9}')), 7);
    assert.equal(await okJson(await post("sub", '{"b": 2, "a": 9}', "application/json; charset=utf-8")), 7);
    await jsonError(await post("sub", '{"a": 9,'), 400);
    await jsonError(await post("sub", "[9, 2"), 400);
  });

  it("speaks msgpack in and out", T, async (t) => {
    const prov = await provider(t);
    const ws = prov.config.workspace;
    await prov.registerService({
      id: "calc",
      config: { visibility: "public" },
      multiply: (a, b) => a * b,
      pair: (a, b) => ({ a, b }),
    });
    const url = call(ws, "calc", "multiply");
    // A msgpack body gets a msgpack answer (fetch sends Accept: */*).
    let res = await http(url, { method: "POST", headers: { "Content-Type": "application/msgpack" }, body: encode({ a: 6, b: 7 }) });
    assert.equal(decode(await msgpackBody(res)), 42);
    res = await http(url, { method: "POST", headers: { "Content-Type": "application/x-msgpack" }, body: encode([5, 5]) });
    assert.equal(decode(await msgpackBody(res)), 25);
    // ... unless Accept asks for JSON.
    res = await http(url, {
      method: "POST",
      headers: { "Content-Type": "application/msgpack", Accept: "application/json" },
      body: encode([2, 21]),
    });
    assert.equal(await okJson(res), 42);
    // A GET that asks for msgpack.
    res = await http(call(ws, "calc", "pair", "?a=x&b=2"), { headers: { Accept: "application/msgpack" } });
    assert.deepEqual(decode(await msgpackBody(res)), { a: "x", b: 2 });
  });

  it("refuses other content types with 415 and other methods with 405", T, async (t) => {
    const prov = await provider(t);
    const ws = prov.config.workspace;
    await prov.registerService({ id: "calc", config: { visibility: "public" }, multiply: (a, b) => a * b });
    const url = call(ws, "calc", "multiply");
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/xml"]) {
      await jsonError(await http(url, { method: "POST", headers: { "Content-Type": type }, body: "a=1&b=2" }), 415);
    }
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const res = await http(url, { method, headers: { "Content-Type": "application/json" }, body: "[1, 2]" });
      assert.equal(res.status, 405, `${method}: ${await res.text()}`);
    }
    assert.equal(await okJson(await http(`${url}?a=1&b=2`)), 2); // control
  });

  it("maps JS provider errors to HTTP statuses without stack traces", T, async (t) => {
    const marker = uid("m");
    const prov = await provider(t);
    const ws = prov.config.workspace;
    await prov.registerService({
      id: "errs",
      config: { visibility: "public" },
      badType: () => {
        throw new TypeError(`bad type ${marker}`);
      },
      boom: () => {
        throw new Error(`exploded ${marker}`);
      },
      async rejects() {
        throw new Error(`rejected ${marker}`);
      },
      ok: () => "fine",
    });
    await jsonError(await http(call(ws, "errs", "badType")), 400, `bad type ${marker}`);
    await jsonError(await http(call(ws, "errs", "boom")), 500, `exploded ${marker}`);
    await jsonError(await http(call(ws, "errs", "rejects")), 500, `rejected ${marker}`);
    await jsonError(await http(call(ws, "errs", "missing")), 404);
    await jsonError(await http(call(ws, "errs", "ok.deeper")), 404);
    await jsonError(await http(call(ws, "no-such-service", "ok")), 404);
    assert.equal(await okJson(await http(call(ws, "errs", "ok"))), "fine"); // control
  });

  it("reaches the workspace manager as service `ws` with the caller's permissions", T, async (t) => {
    const prov = await provider(t);
    const ws = prov.config.workspace;
    await prov.registerService({ id: "secret", config: { visibility: "protected" }, ping: () => "pong" });
    const token = await prov.generateToken({});
    const auth = { headers: { Authorization: `Bearer ${token}` } };

    const listed = await okJson(await http(call(ws, "ws", "list_services"), auth));
    assert.ok(Array.isArray(listed), JSON.stringify(listed));
    assert.ok(listed.some((s) => /:secret(@|$)/.test(s.id)), `own protected service: ${JSON.stringify(listed.map((s) => s.id))}`);
    assert.equal(await okJson(await http(call(ws, "ws", "echo", "?data=hi"), auth)), "hi");

    // Anonymous: the manager of ws-anonymous, which cannot see this workspace's protected service.
    const anon = await http(call(ws, "ws", "list_services"));
    const text = await anon.text();
    if (anon.status === 200) {
      const ids = JSON.parse(text).map((s) => s.id);
      assert.ok(!ids.some((id) => /:secret(@|$)/.test(id)), `anonymous saw a protected service: ${JSON.stringify(ids)}`);
    } else {
      assert.ok(anon.status === 403 || anon.status === 404, `${anon.status}: ${text}`);
    }
  });

  // ---- streaming ---------------------------------------------------------------

  describe("generators stream", () => {
    async function* countTo(n) {
      for (let i = 0; i < n; i++) {
        await null;
        yield { i };
      }
    }
    function* syncCount(n) {
      for (let i = 0; i < n; i++) yield i;
    }
    async function* broken(marker) {
      yield 1;
      yield 2;
      throw new Error(`stream ${marker}`);
    }

    async function streamingProvider(t, extra = {}) {
      const prov = await provider(t);
      await prov.registerService({
        id: "gen",
        config: { visibility: "public" },
        count: (n) => countTo(n),
        syncCount: (n) => syncCount(n),
        broken: (marker) => broken(marker),
        ...extra,
      });
      return prov;
    }

    it("as NDJSON by default, from async and sync JS generators", T, async (t) => {
      const prov = await streamingProvider(t);
      const ws = prov.config.workspace;
      let res = await http(call(ws, "gen", "count", "?n=3"));
      assert.equal(res.status, 200);
      assert.equal(mediaType(res), "application/x-ndjson");
      assert.deepEqual(ndjson(await res.text()), [{ i: 0 }, { i: 1 }, { i: 2 }]);

      res = await http(call(ws, "gen", "syncCount"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "[4]",
      });
      assert.equal(res.status, 200);
      assert.equal(mediaType(res), "application/x-ndjson");
      assert.deepEqual(ndjson(await res.text()), [0, 1, 2, 3]);
    });

    it("as SSE with a final [DONE] when asked for text/event-stream", T, async (t) => {
      const prov = await streamingProvider(t);
      const res = await http(call(prov.config.workspace, "gen", "count", "?n=2"), {
        headers: { Accept: "text/event-stream" },
      });
      assert.equal(res.status, 200);
      assert.equal(mediaType(res), "text/event-stream");
      const text = await res.text();
      const data = sseData(text);
      assert.equal(data.at(-1), "[DONE]", text);
      assert.deepEqual(data.slice(0, -1).map((d) => JSON.parse(d)), [{ i: 0 }, { i: 1 }]);
      assert.ok(text.endsWith("\n\n"), JSON.stringify(text.slice(-20)));
    });

    it("as concatenated msgpack objects when asked for application/msgpack", T, async (t) => {
      const prov = await streamingProvider(t);
      const res = await http(call(prov.config.workspace, "gen", "count", "?n=3"), {
        headers: { Accept: "application/msgpack" },
      });
      const items = [...decodeMulti(await msgpackBody(res))];
      assert.deepEqual(items, [{ i: 0 }, { i: 1 }, { i: 2 }]);
    });

    it("sends the first item before the generator ends", T, async (t) => {
      const release = deferred();
      const prov = await streamingProvider(t, {
        gated: () =>
          (async function* gated() {
            yield "first";
            await withTimeout(release.promise, 30000, "release");
            yield "second";
          })(),
      });
      const res = await http(call(prov.config.workspace, "gen", "gated"));
      assert.equal(res.status, 200);
      assert.equal(mediaType(res), "application/x-ndjson");
      const lines = lineReader(res);
      // The generator is still waiting for `release`: the first item must already be here.
      assert.equal(JSON.parse(await lines.next()), "first");
      release.resolve();
      assert.deepEqual((await lines.rest()).map((l) => JSON.parse(l)), ["second"]);
    });

    it("ends with an error item when the generator throws", T, async (t) => {
      const prov = await streamingProvider(t);
      const ws = prov.config.workspace;
      const marker = uid("broke");
      let res = await http(call(ws, "gen", "broken", `?marker=${marker}`));
      assert.equal(res.status, 200);
      assert.equal(mediaType(res), "application/x-ndjson");
      const items = ndjson(await res.text());
      assert.deepEqual(items.slice(0, 2), [1, 2]);
      assert.equal(items.length, 3, JSON.stringify(items));
      assert.equal(items[2].type, "error", JSON.stringify(items[2]));
      assert.ok(String(items[2].error).includes(marker), JSON.stringify(items[2]));
      assert.ok(!/\n\s+at\s/.test(items[2].error), `JS stack leaked: ${items[2].error}`);

      res = await http(call(ws, "gen", "broken", `?marker=${marker}`), { headers: { Accept: "text/event-stream" } });
      assert.equal(res.status, 200);
      assert.equal(mediaType(res), "text/event-stream");
      const data = sseData(await res.text());
      assert.equal(data.length, 4, JSON.stringify(data));
      assert.deepEqual(data.slice(0, 2).map((d) => JSON.parse(d)), [1, 2]);
      const err = JSON.parse(data[2]);
      assert.equal(err.type, "error");
      assert.ok(String(err.error).includes(marker), JSON.stringify(err));
      assert.equal(data[3], "[DONE]");
    });

    it("closes the provider's generator when the client disconnects", T, async (t) => {
      const closed = deferred();
      let produced = 0;
      const prov = await streamingProvider(t, {
        ticks: () =>
          (async function* ticks() {
            try {
              for (;;) {
                yield produced++;
                await sleep(10);
              }
            } finally {
              closed.resolve(produced);
            }
          })(),
      });
      const abort = new AbortController();
      const res = await fetch(call(prov.config.workspace, "gen", "ticks"), { signal: abort.signal });
      assert.equal(res.status, 200);
      const lines = lineReader(res);
      assert.equal(JSON.parse(await lines.next()), 0);
      abort.abort();
      await lines.cancel();
      const count = await withTimeout(closed.promise, WAIT, "the generator's finally after the client left");
      assert.ok(count >= 1);
    });
  });

  // ---- apps ------------------------------------------------------------------------

  describe("apps", () => {
    it("serves an ASGI app written in JS: delayed status and headers, scope, request body", T, async (t) => {
      const prov = await provider(t);
      const ws = prov.config.workspace;
      await prov.registerService({
        id: "asgi-js",
        type: "asgi",
        config: { visibility: "public" },
        async serve({ scope, receive, send }) {
          let body = "";
          for (let i = 0; i < 1000; i++) {
            const message = await receive();
            if (message.body) body += txt(message.body);
            if (!message.more_body) break;
          }
          const headers = Object.fromEntries(scope.headers.map(([k, v]) => [txt(k).toLowerCase(), txt(v)]));
          const report = JSON.stringify({
            type: scope.type,
            method: scope.method,
            path: scope.path,
            root_path: scope.root_path,
            query_string: txt(scope.query_string),
            workspace: scope.workspace,
            service_id: scope.service_id,
            x_custom: headers["x-custom"] ?? null,
            body,
          });
          await sleep(100); // the status must not be lost when the app takes its time
          await send({
            type: "http.response.start",
            status: 201,
            headers: [
              ["content-type", "application/json"],
              ["x-test", "1"],
            ],
          });
          await send({ type: "http.response.body", body: report.slice(0, 5), more_body: true });
          await send({ type: "http.response.body", body: report.slice(5), more_body: false });
        },
      });

      const redirect = await http(`${server.url}/${ws}/apps/asgi-js`);
      assert.equal(redirect.status, 307);
      assert.equal(redirect.headers.get("location"), `/${ws}/apps/asgi-js/`);

      const res = await http(`${server.url}/${ws}/apps/asgi-js/some/path?x=1&y=2`, {
        method: "POST",
        headers: { "X-Custom": "yes", "Content-Type": "text/plain" },
        body: "hello asgi",
      });
      const text = await res.text();
      assert.equal(res.status, 201, text);
      assert.equal(res.headers.get("x-test"), "1");
      const got = JSON.parse(text);
      assert.deepEqual(
        { ...got, service_id: undefined },
        {
          type: "http",
          method: "POST",
          path: "/some/path",
          root_path: `/${ws}/apps/asgi-js`,
          query_string: "x=1&y=2",
          workspace: ws,
          service_id: undefined,
          x_custom: "yes",
          body: "hello asgi",
        },
      );
      assert.ok(String(got.service_id).includes("asgi-js"), `service_id: ${got.service_id}`);
    });

    it("streams an ASGI app's body chunks (Uint8Array) as they are sent", T, async (t) => {
      const release = deferred();
      const enc = new TextEncoder();
      const prov = await provider(t);
      const ws = prov.config.workspace;
      await prov.registerService({
        id: "asgi-stream",
        type: "asgi",
        config: { visibility: "public" },
        async serve({ scope, receive, send }) {
          await send({ type: "http.response.start", status: 200, headers: [["content-type", "text/plain"]] });
          await send({ type: "http.response.body", body: enc.encode(`first ${scope.path}\n`), more_body: true });
          await withTimeout(release.promise, 30000, "release");
          await send({ type: "http.response.body", body: enc.encode("second\n"), more_body: false });
        },
      });
      const res = await http(`${server.url}/${ws}/apps/asgi-stream/chunks`);
      assert.equal(res.status, 200);
      assert.equal(mediaType(res), "text/plain");
      const lines = lineReader(res);
      // The app is still waiting for `release`: the first chunk must already be here.
      assert.equal(await lines.next(), "first /chunks");
      release.resolve();
      assert.deepEqual(await lines.rest(), ["second"]);
    });

    it("routes a functions app: index, nested index, default with function_path", T, async (t) => {
      const prov = await provider(t);
      const ws = prov.config.workspace;
      const view = (where, scope) => ({
        where,
        method: scope.method,
        path: scope.path,
        query_string: scope.query_string,
        x_custom: scope.headers?.["x-custom"] ?? null,
        body: scope.body == null ? null : txt(scope.body),
        user: scope.user?.id ?? null,
        function_path: scope.function_path ?? null,
      });
      await prov.registerService({
        id: "fns",
        type: "functions",
        config: { visibility: "public" },
        index: async (scope) => ({
          status: 200,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(view("index", scope)),
        }),
        api: {
          v1: {
            index: async (scope) => ({
              status: 200,
              headers: { "Content-Type": "application/json", "X-Fn": "api.v1.index" },
              body: JSON.stringify(view("api.v1.index", scope)),
            }),
          },
        },
        default: async (scope) => ({
          status: 202,
          headers: { "Content-Type": "application/json", "X-Fn": "default" },
          body: JSON.stringify(view("default", scope)),
        }),
      });
      const base = `${server.url}/${ws}/apps/fns`;

      let got = await okJson(await http(`${base}/?q=1`, { headers: { "X-Custom": "yes" } }));
      assert.equal(got.where, "index");
      assert.equal(got.method, "GET");
      assert.equal(got.query_string, "q=1");
      assert.equal(got.x_custom, "yes");
      assert.equal(got.user, "anonymouz-http");

      let res = await http(`${base}/api/v1`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "ping" });
      assert.equal(res.headers.get("x-fn"), "api.v1.index");
      got = await okJson(res);
      assert.equal(got.where, "api.v1.index");
      assert.equal(got.method, "POST");
      assert.equal(got.body, "ping");

      res = await http(`${base}/unknown/deep`);
      assert.equal(res.headers.get("x-fn"), "default");
      got = await okJson(res, 202);
      assert.equal(got.where, "default");
      assert.equal(got.function_path, "/unknown/deep");
    });
  });
});
