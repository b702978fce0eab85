// (f) close() and a new start in the same page: the first server lets go of everything (its url,
// its clients, its windows' and workers' connections) and a new HyphaCore works fully.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

describe("close and start again", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("close() then new HyphaCore().start() in the same page works", async () => {
    const page = await env.page();
    const r = await page.evaluate(async () => {
      const out = {};
      // A busy first server: a service, a connect() client, a worker and an iframe.
      const first = new HyphaCore();
      const api1 = await first.start();
      await api1.registerService({ id: "first", config: { visibility: "public" }, hi: () => "first" });
      const client1 = await first.connect({ token: await api1.generateToken({ workspace: "ws-1" }) });
      const svc1 = await client1.getService("default/root:first");
      out.firstCall = await svc1.hi();
      const worker = await api1.loadApp({ type: "web-worker", src: "/apps/compute-worker.js" });
      out.firstWorker = await worker.fibonacci(12);
      const iframe = document.createElement("iframe");
      iframe.src = "/apps/standalone-iframe.html";
      document.getElementById("panes").append(iframe);
      const mounted = await first.mountIframe(iframe, { workspace: "ws-1", client_id: "frame-1" });
      out.firstFrame = await mounted.service.add(1, 1);
      out.clientsBefore = Object.keys(first.connections).length;

      await first.close();
      out.afterClose = {
        server: first.server,
        api: first.api,
        registered: Object.keys(HyphaCore.servers),
        connections: Object.keys(first.connections).length,
      };
      try {
        await first.connect();
        out.afterClose.connect = "connected?!";
      } catch (e) {
        out.afterClose.connect = String(e.message || e);
      }

      // The same url again, from a new instance.
      const second = new HyphaCore();
      const api2 = await second.start();
      out.second = { url: second.url, sameUrl: second.url === first.url, id: api2.id };
      await api2.registerService({ id: "second", config: { visibility: "public", require_context: true }, who: (ctx) => ctx.from });
      const client2 = await second.connect({ token: await api2.generateToken({ workspace: "ws-2" }) });
      out.second.call = await (await client2.getService("default/root:second")).who();
      out.second.clientId = client2.config.client_id;
      try {
        await client2.getService("default/root:first");
        out.second.oldService = "still there?!";
      } catch (e) {
        out.second.oldService = "gone";
      }
      const worker2 = await api2.loadApp({ type: "web-worker", src: "/apps/compute-worker.js" });
      out.second.worker = await worker2.factorial(5);
      const iframe2 = document.createElement("iframe");
      iframe2.src = "/apps/standalone-iframe.html";
      document.getElementById("panes").append(iframe2);
      const mounted2 = await second.mountIframe(iframe2, { workspace: "ws-2", client_id: "frame-1" });
      out.second.frame = await mounted2.service.greet("again");
      // The old iframe is not reconnected to the new server: its address is free in ws-1.
      out.second.oldFrameKnown = Object.keys(second.connections).some((k) => k.startsWith("ws-1/"));
      // reset() = close() + start() on the same instance.
      const api3 = await second.reset();
      await api3.registerService({ id: "third", hi: () => "third" });
      out.third = await (await api3.getService("default/root:third")).hi();
      await second.close();
      out.finalRegistered = Object.keys(HyphaCore.servers);
      return out;
    });
    assert.equal(r.firstCall, "first");
    assert.equal(r.firstWorker, 144);
    assert.equal(r.firstFrame, 2);
    assert.ok(r.clientsBefore >= 4, `clients before close: ${r.clientsBefore}`);
    assert.deepEqual(r.afterClose, {
      server: null,
      api: null,
      registered: [],
      connections: 0,
      connect: r.afterClose.connect,
    });
    assert.match(r.afterClose.connect, /not running/);
    assert.equal(r.second.sameUrl, true);
    assert.equal(r.second.id, "root");
    assert.equal(r.second.call, `ws-2/${r.second.clientId}`);
    assert.equal(r.second.oldService, "gone");
    assert.equal(r.second.worker, 120);
    assert.equal(r.second.frame, "Hello, again! (from frame-1)");
    assert.equal(r.second.oldFrameKnown, false);
    assert.equal(r.third, "third");
    assert.deepEqual(r.finalRegistered, []);
  });

  // hypha-rpc's connectToServer sleeps 100 ms after its handshake; the build removes that sleep
  // (scripts/build-js.mjs). Checked by the timers connect() asks for, not by timing it.
  env.test("start() and connect() do not wait on hypha-rpc's fixed connect delay", async () => {
    const page = await env.page();
    const delays = await page.evaluate(async () => {
      const requested = [];
      const original = window.setTimeout;
      window.setTimeout = (fn, ms, ...rest) => {
        requested.push(ms);
        return original(fn, ms, ...rest);
      };
      try {
        const core = new HyphaCore();
        await core.start();
        await core.connect({});
        await core.close();
      } finally {
        window.setTimeout = original;
      }
      return requested;
    });
    assert.ok(delays.length > 0, "no timer was seen at all: the check would be blind");
    assert.ok(!delays.includes(100), `a 100 ms timer was set while connecting: ${delays.join(", ")}`);
  });
});
