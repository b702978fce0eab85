// (b) Real web workers running hypha-rpc's setupLocalClient: the demo's compute worker loaded with
// loadApp({type: "web-worker"}), and a fixture worker mounted with mountWorker whose functions take
// callbacks from the page and throw errors.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

describe("web workers", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("loadApp({type: 'web-worker'}) runs the compute worker and its functions answer the page", async () => {
    const page = await env.page();
    const r = await page.evaluate(async () => {
      const core = new HyphaCore();
      const api = await core.start();
      const svc = await api.loadApp({ type: "web-worker", src: "/apps/compute-worker.js", name: "compute" });
      const out = {
        name: svc.name,
        fibonacci: await svc.fibonacci(30),
        factorial: await svc.factorial(10),
        prime: await svc.isPrime(7919),
        notPrime: await svc.isPrime(7917),
        stats: await svc.processArray([3, 1, 4, 1, 5]),
        info: await svc.getWorkerInfo(),
      };
      const progress = [];
      out.heavy = await svc.heavyComputation(200000, (fraction) => {
        progress.push(fraction);
      });
      out.progress = progress;
      for (const [name, call] of [
        ["badArray", () => svc.processArray("not an array")],
        ["badFactorial", () => svc.factorial(-1)],
      ]) {
        try {
          out[name] = { value: await call() };
        } catch (e) {
          out[name] = { error: String(e.message || e) };
        }
      }
      // The same app again through getApp, by name.
      out.again = await (await api.getApp({ name: "compute" })).fibonacci(10);
      out.clients = Object.keys(core.connections);
      await core.close();
      return out;
    });
    assert.equal(r.name, "Compute worker");
    assert.equal(r.fibonacci, 832040);
    assert.equal(r.factorial, 3628800);
    assert.equal(r.prime, true);
    assert.equal(r.notPrime, false);
    assert.deepEqual(r.stats, { count: 5, sum: 14, mean: 2.8, min: 1, max: 5, sorted: [1, 1, 3, 4, 5] });
    assert.equal(r.info.type, "web-worker");
    assert.equal(r.info.isWorker, true);
    assert.equal(r.info.hasDocument, false);
    assert.equal(r.info.workspace, "default");
    assert.match(r.info.client_id, /^client-/);
    assert.ok(r.info.callCount >= 6);
    assert.equal(r.heavy.iterations, 200000);
    assert.deepEqual(r.progress, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    assert.match(r.badArray.error, /processArray needs a non-empty array of finite numbers/);
    assert.match(r.badFactorial.error, /n must be a non-negative integer/);
    assert.equal(r.again, 55);
    assert.ok(r.clients.includes(`default/${r.info.client_id}`));
  });

  env.test("mountWorker: callbacks from the page run, errors thrown in the worker reach the page", async () => {
    const page = await env.page();
    const r = await page.evaluate(async () => {
      const core = new HyphaCore();
      const api = await core.start();
      const worker = new Worker("/fixtures/callback-worker.js");
      const mounted = await core.mountWorker(worker, { workspace: "ws-worker", client_id: "cb-worker", timeout: 20000 });
      const svc = mounted.service;
      const seen = [];
      const out = {
        workspace: mounted.workspace,
        client_id: mounted.client_id,
        source: core.connections["ws-worker/cb-worker"].source === worker,
        whoami: await svc.whoami(),
        mapped: await svc.mapWith([1, 2, 3], (x) => {
          seen.push(x);
          return x * 10;
        }),
      };
      out.seen = seen;
      const ticks = [];
      out.countdown = await svc.countdown(3, (i) => ticks.push(i));
      out.ticks = ticks;
      // An async callback and one that throws: the worker awaits them.
      out.asyncMapped = await svc.mapWith(["a", "b"], async (x) => x.toUpperCase());
      try {
        await svc.mapWith([1], () => {
          throw new Error("callback refused 7");
        });
        out.callbackError = "no error";
      } catch (e) {
        out.callbackError = String(e.message || e);
      }
      for (const name of ["fail", "failLater"]) {
        try {
          await svc[name](`boom from ${name} 42`);
          out[name] = "no error";
        } catch (e) {
          out[name] = { message: String(e.message || e), isError: e instanceof Error };
        }
      }
      // Still usable after the errors, and reachable by root through the server.
      out.afterErrors = (await svc.whoami()).client_id;
      out.viaRoot = await (await api.getService("ws-worker/cb-worker:default")).mapWith([5], (x) => x + 1);
      await core.close();
      worker.terminate();
      return out;
    });
    assert.equal(r.workspace, "ws-worker");
    assert.equal(r.client_id, "cb-worker");
    assert.equal(r.source, true);
    assert.deepEqual(r.whoami, { workspace: "ws-worker", client_id: "cb-worker", isWorker: true });
    assert.deepEqual(r.mapped, [10, 20, 30]);
    assert.deepEqual(r.seen, [1, 2, 3]);
    assert.equal(r.countdown, 3);
    assert.deepEqual(r.ticks, [3, 2, 1]);
    assert.deepEqual(r.asyncMapped, ["A", "B"]);
    assert.match(r.callbackError, /callback refused 7/);
    assert.equal(r.fail.isError, true);
    assert.match(r.fail.message, /boom from fail 42/);
    assert.match(r.failLater.message, /boom from failLater 42/);
    assert.equal(r.afterErrors, "cb-worker");
    assert.deepEqual(r.viaRoot, [6]);
  });

  // A worker app whose script fails to load (404, syntax error) never says hyphaClientReady; its
  // `error` event must fail the load at once instead of waiting for the ready timeout.
  env.test(
    "loadApp of a worker whose script does not load rejects at once, saying why",
    async () => {
      const page = await env.page();
      const r = await page.evaluate(async () => {
        const core = new HyphaCore();
        const api = await core.start();
        let message = null;
        try {
          await api.loadApp({ type: "web-worker", src: "/apps/no-such-worker.js", timeout: 2500 });
        } catch (e) {
          message = String(e.message || e);
        }
        await core.close();
        return { message };
      });
      assert.ok(r.message, "loadApp rejected");
      // Not the ready timeout ("did not send hyphaClientReady"): the script's error event.
      assert.match(r.message, /Worker failed to start/);
    },
  );
});
