// Core RPC flow through the server with the real npm `hypha-rpc` client.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connect, settle, startServer, twoClientsSameWorkspace, uid, waitUntil } from "./server.mjs";

const T = { timeout: 30000 };
const sameId = (listed, full) => listed === full || listed === `${full}@*`;
const ids = (list) => list.map((s) => s.id);

describe("core RPC flow (node client)", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it("registers a multi-function service, lists it and calls it from a second client", T, async (t) => {
    const [provider, consumer] = await twoClientsSameWorkspace(server, t);
    assert.equal(consumer.config.workspace, provider.config.workspace);
    const info = await provider.registerService({
      id: "calc",
      name: "Calculator",
      description: "adds and greets",
      add: (a, b) => a + b,
      greet: (name) => `hello ${name}`,
      nested: { mul: async (a, b) => a * b },
      echo: (x) => x,
    });
    assert.equal(info.id, `${provider.config.workspace}/${provider.config.client_id}:calc`);

    const listed = await consumer.listServices();
    const entry = listed.find((s) => sameId(s.id, info.id));
    assert.ok(entry, `calc not in list_services: ${JSON.stringify(ids(listed))}`);
    assert.equal(entry.name, "Calculator");

    const svc = await consumer.getService(info.id);
    assert.equal(await svc.add(2, 40), 42);
    assert.equal(await svc.greet("hypha"), "hello hypha");
    assert.equal(await svc.nested.mul(6, 7), 42);
    assert.deepEqual(await svc.echo({ a: [1, "two", null, true], b: { c: 3.5 } }), {
      a: [1, "two", null, true],
      b: { c: 3.5 },
    });
    // The short form "<client_id>:<service>" resolves inside the caller's workspace.
    const short = await consumer.getService(`${provider.config.client_id}:calc`);
    assert.equal(await short.add(1, 1), 2);
  });

  it("calls a callback passed as an argument", T, async (t) => {
    const [provider, consumer] = await twoClientsSameWorkspace(server, t);
    const info = await provider.registerService({
      id: "cb-svc",
      async twice(cb, x) {
        const first = await cb(x);
        const second = await cb(first);
        return `done:${second}`;
      },
    });
    const svc = await consumer.getService(info.id);
    const seen = [];
    const result = await svc.twice((v) => {
      seen.push(v);
      return v * 3;
    }, 2);
    assert.deepEqual(seen, [2, 6]);
    assert.equal(result, "done:18");
  });

  it("propagates an error thrown in a service with its message", T, async (t) => {
    const [provider, consumer] = await twoClientsSameWorkspace(server, t);
    const marker = uid("boom-");
    const info = await provider.registerService({
      id: "err-svc",
      fail() {
        throw new Error(`service exploded: ${marker}`);
      },
      ok: () => "still fine",
    });
    const svc = await consumer.getService(info.id);
    await assert.rejects(svc.fail(), (err) => {
      assert.match(String(err?.message ?? err), new RegExp(marker));
      return true;
    });
    // The connection survives the error.
    assert.equal(await svc.ok(), "still fine");
  });

  it("streams values from an async generator", T, async (t) => {
    const [provider, consumer] = await twoClientsSameWorkspace(server, t);
    const info = await provider.registerService({
      id: "gen-svc",
      async *count(n) {
        for (let i = 0; i < n; i++) {
          await new Promise((r) => setTimeout(r, 5));
          yield i * i;
        }
      },
    });
    const svc = await consumer.getService(info.id);
    const gen = await svc.count(6);
    const got = [];
    for await (const v of gen) got.push(v);
    assert.deepEqual(got, [0, 1, 4, 9, 16, 25]);
  });

  it("round-trips a 1 MiB Uint8Array intact", T, async (t) => {
    const [provider, consumer] = await twoClientsSameWorkspace(server, t);
    const info = await provider.registerService({
      id: "bytes-svc",
      echo: (data) => data,
      digest: (data) => crypto.createHash("sha256").update(data).digest("hex"),
    });
    const svc = await consumer.getService(info.id);
    const data = new Uint8Array(crypto.randomBytes(1024 * 1024));
    const expected = crypto.createHash("sha256").update(data).digest("hex");
    assert.equal(await svc.digest(data), expected, "provider received different bytes");
    const back = await svc.echo(data);
    assert.ok(back instanceof Uint8Array || ArrayBuffer.isView(back) || back instanceof ArrayBuffer, `got ${typeof back}`);
    const bytes = back instanceof ArrayBuffer ? new Uint8Array(back) : new Uint8Array(back.buffer, back.byteOffset, back.byteLength);
    assert.equal(bytes.byteLength, data.byteLength);
    assert.equal(crypto.createHash("sha256").update(bytes).digest("hex"), expected);
  });

  it("removes a departed client's services (list and get)", T, async (t) => {
    const [provider, consumer] = await twoClientsSameWorkspace(server, t);
    const info = await provider.registerService({ id: "leaving", hi: () => "hi" });
    const svc = await consumer.getService(info.id);
    assert.equal(await svc.hi(), "hi");
    assert.ok(ids(await consumer.listServices()).some((id) => sameId(id, info.id)));

    await provider.disconnect();

    const gone = await waitUntil(async () => !ids(await consumer.listServices()).some((id) => sameId(id, info.id)), 5000);
    assert.ok(gone, `${info.id} still listed 5 s after its client disconnected`);
    const r = await settle(consumer.getService(info.id));
    assert.equal(r.ok, false, "get_service still returns the departed client's service");
  });

  it("lets another workspace use a public service but not a protected one", T, async (t) => {
    const [provider] = await twoClientsSameWorkspace(server, t);
    const ws = provider.config.workspace;
    const pub = await provider.registerService({
      id: "pub-svc",
      config: { visibility: "public" },
      whoami: () => "public answer",
    });
    const prot = await provider.registerService({ id: "prot-svc", secret: () => "protected answer" });

    const outsider = await connect(server, { client_id: uid("outsider") }, t);
    assert.notEqual(outsider.config.workspace, ws);

    const pubSvc = await outsider.getService(pub.id);
    assert.equal(await pubSvc.whoami(), "public answer");

    const r = await settle(outsider.getService(prot.id));
    assert.equal(r.ok, false, "get_service returned a protected service to another workspace");

    // Listing the other workspace may be refused outright; if it answers, the protected service is not in it.
    const listing = await settle(outsider.listServices(ws));
    if (listing.ok) {
      const listed = ids(listing.value);
      assert.ok(!listed.some((id) => id.includes(":prot-svc")), `protected service listed to another workspace: ${listed}`);
    }
  });
  it("registers a service larger than 256 KiB through the manager's message_cache", T, async (t) => {
    const [provider, consumer] = await twoClientsSameWorkspace(server, t);
    // hypha-rpc splits any call above 256 KiB into message_cache chunks, so this registration
    // only lands if the manager reassembles them.
    const docs = "large docs ".repeat(40 * 1024); // 440 KiB
    const info = await provider.registerService({ id: "big-docs", docs, ping: () => "pong" });
    const listed = await consumer.listServices();
    const entry = listed.find((s) => sameId(s.id, info.id));
    assert.ok(entry, `big-docs not listed: ${JSON.stringify(ids(listed))}`);
    assert.equal(entry.docs.length, docs.length);
    const svc = await consumer.getService(info.id);
    assert.equal(await svc.ping(), "pong");
  });
});
