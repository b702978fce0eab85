// The postMessage bridge (protocol.md §6) from the parent side: the handshake message by
// message on a MessageChannel, then a real hypha-rpc setupLocalClient in a worker thread.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MessageChannel, Worker } from "node:worker_threads";

const dist = new URL("../../dist/hypha-core.mjs", import.meta.url);
const { HyphaCore } = await import(dist.href);
const T = { timeout: 30000 };

/** Messages arriving on a port, awaited one at a time. */
function inbox(port) {
  const queue = [];
  const waiting = [];
  port.on("message", (data) => {
    const w = waiting.shift();
    if (w) w(data);
    else queue.push(data);
  });
  return {
    next(ms = 3000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no message")), ms);
        waiting.push((d) => {
          clearTimeout(timer);
          resolve(d);
        });
      });
    },
    async none(ms = 150) {
      await new Promise((r) => setTimeout(r, ms));
      assert.equal(queue.length, 0, `unexpected message: ${JSON.stringify(queue[0])}`);
    },
  };
}

/** A web-Worker-shaped wrapper around a node:worker_threads Worker. */
function asWebWorker(worker) {
  const wrapped = new Map();
  return {
    postMessage: (message, transfer) => worker.postMessage(message, transfer),
    addEventListener(type, fn) {
      const h = (data) => fn({ data });
      wrapped.set(fn, h);
      worker.on(type, h);
    },
    removeEventListener(type, fn) {
      const h = wrapped.get(fn);
      if (h) worker.off(type, h);
    },
  };
}

describe("posting frames to a child", () => {
  it("copies a small frame and transfers a large one", async () => {
    const { PortBinding } = await import(new URL("../src/ports.js", import.meta.url).href);
    const posted = [];
    const target = { postMessage: (message, transfer) => posted.push({ message, transfer }) };
    const port = new PortBinding({}, { kind: "worker", target, workspace: "w", clientId: "c" });
    const small = new Uint8Array(300).fill(7);
    const large = new Uint8Array(128 * 1024).fill(9);
    port._deliver(small);
    port._deliver(large);
    // Transferring a few hundred bytes cost Chromium ~30 µs a post, twice what copying does.
    assert.deepEqual(
      posted.map((p) => [p.message.data.byteLength, p.transfer.length]),
      [
        [300, 0],
        [128 * 1024, 1],
      ],
    );
    assert.equal(new Uint8Array(posted[0].message.data)[0], 7);
  });
});

describe("mounting workers and iframes", () => {
  let core;
  let api;
  before(async () => {
    core = new HyphaCore({ port: 9200, defaultService: { hello: (name, ctx) => `hello ${name}, ${ctx.from}` } });
    api = await core.start();
  });
  after(async () => {
    await core?.close();
  });

  it("speaks the setupLocalClient handshake and binds the port to one client", T, async () => {
    const { port1, port2 } = new MessageChannel();
    const child = inbox(port2);
    const ready = core.waitFor("connection_ready", 3000);
    const mounting = core.mountWorker(port1, { client_id: "child-1", passive: true });
    port1.start();
    port2.postMessage({ type: "hyphaClientReady" });
    assert.equal((await ready).id, "default/child-1");

    const init = await child.next();
    assert.equal(init.type, "initializeHyphaClient");
    assert.match(init.server_url, /^https:\/\/local-hypha-server:/);
    assert.equal(init.workspace, "default");
    assert.equal(init.client_id, "child-1");
    assert.deepEqual(init.config, {}); // always an object
    assert.equal(init.user_info.id, "child-1");
    const claims = core.verifyToken(init.token);
    assert.equal(claims.client_id, "child-1");
    assert.equal(claims.workspace, "default");
    assert.notEqual(claims.sub, "root");
    const mounted = await mounting;
    assert.equal(mounted.client_id, "child-1");
    assert.equal(mounted.service, null);
    assert.equal(core.connections["default/child-1"].source, port1);

    // Messages naming another client are dropped.
    port2.postMessage({ type: "connect", from: "intruder", workspace: "default" });
    port2.postMessage({ type: "connect", from: "child-1", workspace: "elsewhere" });
    await child.none();

    port2.postMessage({ type: "connect", from: "child-1", workspace: "default" });
    assert.deepEqual(await child.next(), { type: "connected", to: "child-1" });
    // A hello asking for another address is refused and the socket closed.
    port2.postMessage({
      type: "message",
      from: "child-1",
      workspace: "default",
      data: JSON.stringify({ client_id: "root", workspace: "default", token: init.token }),
    });
    const refusal = await child.next();
    assert.equal(refusal.type, "message");
    assert.match(JSON.parse(refusal.data).message, /only connect as default\/child-1/);
    assert.deepEqual(await child.next(), { type: "closed", to: "child-1" });

    // The right hello gets connection_info through the port.
    const connected = core.waitFor("client_connected", 3000);
    port2.postMessage({ type: "connect", from: "child-1", workspace: "default" });
    assert.equal((await child.next()).type, "connected");
    port2.postMessage({
      type: "message",
      from: "child-1",
      workspace: "default",
      data: JSON.stringify({ client_id: "child-1", workspace: "default", token: init.token }),
    });
    const reply = await child.next();
    assert.equal(reply.to, "child-1");
    const info = JSON.parse(reply.data);
    assert.equal(info.type, "connection_info");
    assert.equal(info.client_id, "child-1");
    assert.equal(info.workspace, "default");
    assert.equal((await connected).id, "default/child-1");
    assert.equal(typeof core.connections["default/child-1"].conn, "number");

    const left = core.waitFor("client_disconnected", 3000);
    port2.postMessage({ type: "close", from: "child-1", workspace: "default" });
    assert.deepEqual(await child.next(), { type: "closed", to: "child-1" });
    assert.equal((await left).id, "default/child-1");
    port1.close();
  });

  for (const workspace of ["default", "ws-lab"]) {
    it(`mounts a worker running hypha-rpc's setupLocalClient in ${workspace}`, T, async (t) => {
      const thread = new Worker(new URL("../test-fixtures/worker-child.mjs", import.meta.url), {
        workerData: { dist: dist.href },
      });
      t.after(() => thread.terminate());
      const worker = asWebWorker(thread);
      const mounted = await core.mountWorker(worker, { workspace, client_id: `w-${workspace}`, timeout: 15000 });
      assert.equal(mounted.workspace, workspace);
      assert.equal(mounted.service.id, `${workspace}/w-${workspace}:default`);
      assert.equal(await mounted.service.greet("page"), "hello page from the worker");
      assert.deepEqual(await mounted.service.whoami(), {
        workspace,
        client_id: `w-${workspace}`,
        user: `w-${workspace}`,
      });
      // The worker reaches the page's host functions through the manager, as itself.
      assert.equal(await mounted.service.callHost("x"), `hello x, ${workspace}/w-${workspace}`);
      if (workspace === "default") {
        assert.equal(await (await api.getService("default/w-default:default")).greet("root"), "hello root from the worker");
      }
    });
  }

  it("rejects when a worker never says hyphaClientReady", T, async () => {
    const { port1 } = new MessageChannel();
    await assert.rejects(
      core.mountWorker(port1, { client_id: "silent", timeout: 200 }),
      /did not send hyphaClientReady within 200ms/,
    );
    assert.equal(core.connections["default/silent"], undefined);
    port1.close();
    await assert.rejects(core.mountWorker({}), /Invalid worker/);
  });
});
