// Server mode in Node, in-process (dist/hypha-core.mjs + dist/deno-websocket-server.mjs): the
// Router's single timer under HTTP load, root's client forgetting the HTTP callers it answered,
// requests without a body, how the Node driver frames answers, and close() letting the process
// exit at once.
//
// Every request moves the Router's earliest deadline later, and an answer takes its deadline
// away; the bridge keeps a timer already armed, for an earlier moment or for a deadline gone,
// instead of clearing and setting one per request (src/bridge/server.rs, `rearm`).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { get } from "node:http";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { freePort } from "../test-fixtures/free-port.mjs";

const dist = (file) => new URL(`../../dist/${file}`, import.meta.url).href;
const { HyphaCore } = await import(dist("hypha-core.mjs"));
const { DenoWebSocketServer, DenoWebSocketClient } = await import(dist("deno-websocket-server.mjs"));

const T = { timeout: 60000 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts the setTimeout/clearTimeout calls made from the wasm (the Router's timer) during `fn`. */
async function countWasmTimerCalls(fn) {
  const fromWasm = () => /wasm:\/\//.test(new Error().stack);
  const counts = { set: 0, clear: 0 };
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  globalThis.setTimeout = function (...args) {
    if (fromWasm()) counts.set++;
    return realSet.apply(this, args);
  };
  globalThis.clearTimeout = function (...args) {
    if (fromWasm()) counts.clear++;
    return realClear.apply(this, args);
  };
  try {
    await fn();
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
  return counts;
}

/** A started HyphaCore in server mode on a free loopback port (`.api` is its root API). */
async function serverOnFreePort(jwtSecret, http) {
  const port = await freePort();
  const hyphaCore = new HyphaCore({
    url: `http://127.0.0.1:${port}`,
    ServerClass: DenoWebSocketServer,
    WebSocketClass: DenoWebSocketClient,
    jwtSecret,
    http,
  });
  await hyphaCore.start();
  return hyphaCore;
}

describe("server mode: the Router's timer under HTTP load", () => {
  let hyphaCore;
  let base;
  before(async () => {
    hyphaCore = await serverOnFreePort("server-timer-test-secret-0123456789");
    const api = hyphaCore.api;
    await api.registerService({
      id: "slow",
      config: { visibility: "public" },
      wait: async (ms) => {
        await sleep(Number(ms));
        return Number(ms);
      },
    });
    base = `${hyphaCore.url}/default/services/slow/wait`;
  });
  after(async () => {
    if (hyphaCore) await hyphaCore.close();
  });

  it("is not re-armed per request while requests overlap, and still answers every one", T, async () => {
    const requests = 64;
    let answers;
    const counts = await countWasmTimerCalls(async () => {
      answers = await Promise.all(
        Array.from({ length: requests }, (_, i) =>
          fetch(`${base}?ms=${20 + (i % 8)}`).then(async (r) => [r.status, await r.json()]),
        ),
      );
    });
    for (const [i, [status, body]] of answers.entries()) {
      assert.equal(status, 200, `request ${i}: ${JSON.stringify(body)}`);
      assert.equal(body, 20 + (i % 8));
    }
    // Clearing and setting per request would be ≥ 64 of each; the measure is live (the Router's
    // timer is set at least once, from the wasm, during the run).
    assert.ok(counts.set >= 1, `no timer set from the wasm seen: ${JSON.stringify(counts)}`);
    assert.ok(counts.set <= requests / 8, `timer set ${counts.set} times for ${requests} overlapping requests`);
    assert.ok(counts.clear <= requests / 8, `timer cleared ${counts.clear} times for ${requests} overlapping requests`);
  });

  it("is neither cleared nor set again per request when requests come one at a time", T, async () => {
    // Each request is answered before the next arrives, so the Router is left with no deadline
    // after every answer: the timer armed for the last one stays (it fires once, finds nothing
    // due) rather than being cleared and set again for the next request, as it was (2 per
    // request). The test above shows the count sees the wasm's timer calls.
    const requests = 32;
    const counts = await countWasmTimerCalls(async () => {
      for (let i = 0; i < requests; i++) {
        const r = await fetch(`${base}?ms=0`);
        assert.equal(await r.json(), 0);
      }
    });
    assert.ok(counts.set + counts.clear <= 4, `timer set/cleared ${JSON.stringify(counts)} for ${requests} requests`);
  });
});

describe("server mode: root's client forgets the HTTP callers it answered", () => {
  let hyphaCore;
  let base;
  before(async () => {
    // Over the wire (root's own functions run in-process by default: see the next suite).
    hyphaCore = await serverOnFreePort("server-sessions-test-secret-0123456789", { localRootCalls: false });
    await hyphaCore.api.registerService({
      id: "math",
      config: { visibility: "public" },
      multiply: (a, b) => Number(a) * Number(b),
    });
    base = `${hyphaCore.url}/default/services/math/multiply`;
  });
  after(async () => {
    if (hyphaCore) await hyphaCore.close();
  });

  // hypha-rpc keeps a session for each call it answers (its `resolve` goes out in one) until the
  // caller leaves (`client_disconnected`) or for 10 minutes. Each request is a caller of its own
  // that leaves with it; unless the Router says so, root's session store (hypha-rpc has no public
  // view of it) grows by one entry, ~1 KB, per request: gigabytes in 10 minutes of load.
  it("holds no session per request once each is answered", T, async () => {
    const rpc = hyphaCore.api.rpc;
    const sessions = () => Object.keys(rpc._object_store).length;
    const callers = () => Object.keys(rpc._targetIdIndex).length;
    // One request first: hypha-rpc subscribes to departures after it connects.
    assert.equal(await (await fetch(`${base}?a=2&b=3`)).json(), 6);
    await sleep(50);
    const [before, beforeCallers] = [sessions(), callers()];
    const requests = 200;
    for (let i = 0; i < requests; i++) {
      const response = await fetch(`${base}?a=${i}&b=2`);
      assert.equal(await response.json(), i * 2, `request ${i}`);
    }
    // Each request's notice comes a second after it ends (src/router/departures.rs).
    await sleep(1500);
    assert.ok(sessions() - before <= 2, `${sessions() - before} sessions left by ${requests} requests`);
    assert.ok(callers() - beforeCallers <= 2, `${callers() - beforeCallers} callers remembered`);
  });
});

describe("server mode: root's own functions answer HTTP callers in-process", () => {
  // The same service on two servers: one runs root's functions in-process (the default), the
  // other sends each call to root's hypha-rpc client as a frame. Callers must not tell them apart.
  const service = {
    id: "kit",
    config: { visibility: "public", require_context: ["whoami"] },
    multiply: (a = 1, b = 1) => ({ result: Number(a) * Number(b) }),
    add: async (a, b) => Number(a) + Number(b),
    whoami: (x, context) => ({ x, from: context.from.split("/")[0], ws: context.ws, user: context.user.id, to: context.to }),
    boom: () => {
      throw new TypeError("bad a");
    },
    fail: async () => {
      throw new Error("it broke");
    },
    nothing: () => undefined,
    bytes: () => new Uint8Array([1, 2, 3]),
    nested: { deep: { list: (n) => Array.from({ length: Number(n) }, (_, i) => ({ i, s: "x".repeat(i) })) } },
    // Not plain data: hypha-rpc's own encoder, in a session of root's client owned by the caller.
    count: (n) => (async function* () {
      for (let i = 0; i < Number(n); i++) yield i;
    })(),
    // Generator functions go over the wire.
    async *countUp(n) {
      for (let i = 0; i < Number(n); i++) yield i;
    },
  };
  const paths = [
    "multiply?a=9&b=22",
    "multiply?b=3",
    "add?a=2&b=40",
    "whoami?x=5",
    "boom",
    "fail",
    "nothing",
    "bytes",
    "nested.deep.list?n=3",
    "count?n=3",
    "countUp?n=3",
    "missing",
  ];
  let local;
  let wire;
  const outcomes = [];
  before(async () => {
    local = await serverOnFreePort("server-local-test-secret-0123456789");
    wire = await serverOnFreePort("server-wire-test-secret-0123456789", { localRootCalls: false });
    for (const hc of [local, wire]) await hc.api.registerService(service);
    const server = local.server;
    const httpLocal = server.httpLocal.bind(server);
    server.httpLocal = (id, outcome, value, kept) => {
      outcomes.push(kept ? `${outcome}+session` : outcome);
      return httpLocal(id, outcome, value, kept);
    };
  });
  after(async () => {
    for (const hc of [local, wire]) if (hc) await hc.close();
  });

  const get = async (hc, path) => {
    const r = await fetch(`${hc.url}/default/services/kit/${path}`, { headers: { accept: "application/x-ndjson" } });
    return [r.status, await r.text()];
  };

  it("answers exactly as root's hypha-rpc client does over the wire", T, async () => {
    for (const path of paths) {
      assert.deepEqual(await get(local, path), await get(wire, path), path);
    }
    assert.deepEqual(await get(local, "multiply?a=9&b=22"), [200, '{"result":198}']);
    const [, whoami] = await get(local, "whoami?x=5");
    assert.deepEqual(JSON.parse(whoami), { x: 5, from: "ws-anonymous", ws: "ws-anonymous", user: "anonymouz-http", to: "default/root" });
    assert.deepEqual(await get(local, "boom"), [400, '{"detail":"TypeError: bad a","success":false}']);
  });

  it("runs plain functions in-process and leaves the rest to root's client", T, async () => {
    outcomes.length = 0;
    for (const path of ["multiply?a=1", "boom", "count?n=2", "countUp?n=2"]) await get(local, path);
    assert.deepEqual(outcomes, ["resolve", "reject", "resolve+session", "decline"]);
  });

  it("answers even when running the function fails before the call", T, async () => {
    // hypha-rpc reads keyword names from the function's source; a function whose source cannot
    // be read fails there, and the caller must get that failure, not wait for good.
    const unreadable = (a) => a;
    unreadable.toString = () => {
      throw new Error("no source");
    };
    for (const hc of [local, wire]) await hc.api.registerService({ id: "odd", config: { visibility: "public" }, unreadable });
    const call = async (hc) => {
      const r = await fetch(`${hc.url}/default/services/odd/unreadable?a=1`);
      return [r.status, await r.text()];
    };
    assert.deepEqual(await call(local), [500, '{"detail":"Error: no source","success":false}']);
    assert.deepEqual(await call(local), await call(wire));
  });

  it("keeps nothing in root's client once the requests ended", T, async () => {
    const rpc = local.api.rpc;
    const sessions = () => Object.keys(rpc._object_store).length;
    await get(local, "count?n=2");
    await sleep(1500);
    const before = sessions();
    for (let i = 0; i < 50; i++) {
      assert.equal((await get(local, `add?a=${i}&b=1`))[1], String(i + 1));
      assert.equal((await get(local, "count?n=2"))[1], "0\n1\n");
    }
    // A generator's session goes when its caller leaves, a second after the request ended.
    await sleep(1500);
    assert.ok(sessions() - before <= 1, `${sessions() - before} sessions left by 100 requests`);
  });
});

describe("server mode: a request without a body", () => {
  let hyphaCore;
  before(async () => {
    hyphaCore = await serverOnFreePort("server-complete-test-secret-0123456789");
    await hyphaCore.api.registerService({ id: "m", config: { visibility: "public" }, multiply: (a, b) => a * b });
  });
  after(async () => {
    if (hyphaCore) await hyphaCore.close();
  });

  /** Start a GET through the listener's exchanges; resolves with `{status, body}` at its end. */
  function start(request) {
    const chunks = [];
    let status = 0;
    const answered = new Promise((resolve) => {
      hyphaCore._listener._exchanges.start(
        { method: "GET", path: "/default/services/m/multiply", query: "a=6&b=7", headers: [], ...request },
        {
          head: (s) => (status = s),
          body: (chunk) => chunks.push(Buffer.from(chunk)),
          end: () => resolve({ status, body: Buffer.concat(chunks).toString() }),
          abort: () => resolve({ status, aborted: true }),
        },
      );
    });
    return answered;
  }

  // Deno's driver hands a bodiless request over `complete` (listen-deno.js): one call into the
  // wasm instead of two.
  it("is answered when handed over complete, with no end() call", T, async () => {
    assert.deepEqual(await start({ complete: true }), { status: 200, body: "42" });
    // Without `complete`, the Router waits for the body's end.
    const waiting = start({});
    const early = await Promise.race([waiting, sleep(300).then(() => "still waiting")]);
    assert.equal(early, "still waiting");
    hyphaCore._listener._exchanges.end(hyphaCore._listener._exchanges.nextId - 1);
    assert.deepEqual(await waiting, { status: 200, body: "42" });
  });

  // The Node driver hands over complete a request that declares no body (listen-node.js); one
  // with a body still ends when its body has been fed.
  it("is handed over complete by the Node driver when it declares no body", T, async () => {
    const exchanges = hyphaCore._listener._exchanges;
    const realEnd = exchanges.end;
    let ends = 0;
    exchanges.end = function (...args) {
      ends++;
      return realEnd.apply(this, args);
    };
    try {
      const url = `${hyphaCore.url}/default/services/m/multiply`;
      for (let i = 0; i < 4; i++) {
        const res = await rawGet(`${url}?a=6&b=${i}`);
        assert.deepEqual([res.status, res.body], [200, String(6 * i)]);
      }
      assert.equal(ends, 0, "a GET without a body was ended separately");
      const posted = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ a: 6, b: 7 }),
      });
      assert.deepEqual([posted.status, await posted.text()], [200, "42"]);
      assert.equal(ends, 1, "a POST's body must be fed and ended");
    } finally {
      exchanges.end = realEnd;
    }
  });
});

/** GET `url` with node:http: `{status, headers, body}` as they came over the wire. */
function rawGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    }).on("error", reject);
  });
}

describe("server mode in Node: how answers are framed", () => {
  let hyphaCore;
  let base;
  before(async () => {
    hyphaCore = await serverOnFreePort("server-framing-test-secret-0123456789");
    const api = hyphaCore.api;
    async function* countTo(n) {
      for (let i = 0; i < n; i++) yield { i };
    }
    await api.registerService({
      id: "framing",
      config: { visibility: "public" },
      text: (n) => "x".repeat(Number(n)),
      count: (n) => countTo(Number(n)),
    });
    base = `${hyphaCore.url}/default/services/framing`;
  });
  after(async () => {
    if (hyphaCore) await hyphaCore.close();
  });

  it("sends a complete answer as one body with its content-length, not chunked", T, async () => {
    for (const n of [0, 10, 70000]) {
      const res = await rawGet(`${base}/text?n=${n}`);
      assert.equal(res.status, 200, res.body);
      assert.equal(JSON.parse(res.body), "x".repeat(n));
      assert.equal(res.headers["content-length"], String(Buffer.byteLength(res.body)), JSON.stringify(res.headers));
      assert.equal(res.headers["transfer-encoding"], undefined, JSON.stringify(res.headers));
    }
    const refused = await rawGet(`${hyphaCore.url}/default/services/nothing-here/f`);
    assert.equal(refused.status, 404, refused.body);
    assert.equal(refused.headers["content-length"], String(Buffer.byteLength(refused.body)));
  });

  it("still streams a generator's items, chunked, and ends the stream", T, async () => {
    const res = await rawGet(`${base}/count?n=5`, { accept: "application/x-ndjson" });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers["transfer-encoding"], "chunked", JSON.stringify(res.headers));
    assert.equal(res.headers["content-length"], undefined);
    const items = res.body.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(items, [0, 1, 2, 3, 4].map((i) => ({ i })));
  });
});

describe("server mode: close()", () => {
  it("lets the process exit at once, with nothing left pending", T, async () => {
    const port = await freePort();
    // A server that served a client of its own (hyphaCore.connect()) and an HTTP call, then
    // closes: the process must end by itself (no process.exit), well before any call or
    // heartbeat timeout would have fired.
    const script = `
      const { HyphaCore } = await import(${JSON.stringify(dist("hypha-core.mjs"))});
      const { DenoWebSocketServer, DenoWebSocketClient } = await import(${JSON.stringify(dist("deno-websocket-server.mjs"))});
      const url = "http://127.0.0.1:${port}";
      const hyphaCore = new HyphaCore({ url, ServerClass: DenoWebSocketServer, WebSocketClass: DenoWebSocketClient, jwtSecret: "close-test-secret-0123456789abcdef" });
      const api = await hyphaCore.start();
      await api.registerService({ id: "s", config: { visibility: "public" }, f: (x) => x + 1 });
      const client = await hyphaCore.connect();
      const s = await client.getService("default/root:s");
      if ((await s.f(1)) !== 2) throw new Error("ws call");
      const r = await fetch(url + "/default/services/s/f?x=41");
      if ((await r.json()) !== 42) throw new Error("http call");
      await client.disconnect();
      await hyphaCore.close();
      globalThis.closedAt = performance.now();
      process.on("exit", () => console.log("exited " + Math.round(performance.now() - globalThis.closedAt) + " ms after close"));
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const limit = new Promise((resolve) => setTimeout(() => resolve("still running"), 20000).unref());
    const ended = await Promise.race([exited, limit]);
    if (ended === "still running") child.kill("SIGKILL");
    assert.equal(ended, 0, `the process did not end by itself:\n${output.slice(-2000)}`);
    const after = Number((output.match(/exited (\d+) ms after close/) || [])[1]);
    assert.ok(after < 2000, `the process lingered after close():\n${output.slice(-2000)}`);
  });
});
