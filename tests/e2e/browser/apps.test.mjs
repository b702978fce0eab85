// Hypha apps (issue 4): ImJoy/Hypha plugin files run through the app templates in dist/
// (web-worker, window, iframe), inline and from a URL; setup()/run(); readable errors for
// malformed plugins; legacy imjoy-rpc apps; closing an app rejects calls in flight.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

/** In the page: a started HyphaCore on window.core/api that gives add_window a container. */
async function startCore(page) {
  await page.evaluate(async () => {
    const core = new HyphaCore();
    core.on("add_window", (config) => {
      const box = document.createElement("div");
      box.id = config.window_id;
      box.className = "window-box";
      document.getElementById("panes").append(box);
    });
    window.core = core;
    window.api = await core.start();
  });
}

/** Runs `fn` in the page and returns `{value}` or `{error}` (the message). */
function settle(page, fn, arg) {
  return page.evaluate(
    async ([source, arg]) => {
      try {
        // eslint-disable-next-line no-new-func
        return { value: await new Function(`return (${source})`)()(arg) };
      } catch (e) {
        return { error: String((e && e.message) || e) };
      }
    },
    [fn.toString(), arg],
  );
}

describe("hypha apps: plugin files, templates, lifecycle", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("a web-worker plugin loads from a .imjoy.html URL and from inline source", async () => {
    const page = await env.page();
    await startCore(page);
    const r = await page.evaluate(async () => {
      const fromUrl = await api.loadApp({ src: "/apps/hello-worker.imjoy.html" });
      const source = await (await fetch("/apps/hello-worker.imjoy.html")).text();
      const inline = await api.loadApp({ src: source, name: "inline worker" });
      return {
        urlHello: await fromUrl.hello("url"),
        urlWhere: await fromUrl.where(),
        inlineSum: await inline.sum([1, 2, 3, 4]),
        inlineWhere: await inline.where(),
        apps: (await api.listApps()).map((a) => ({ name: a.name, type: a.type })),
        windows: document.querySelectorAll("iframe").length,
      };
    });
    assert.equal(r.urlHello, "Hello, url! (from a web-worker plugin)");
    assert.deepEqual(r.urlWhere, { isWorker: true, setupCalls: 1 });
    assert.equal(r.inlineSum, 10);
    assert.deepEqual(r.inlineWhere, { isWorker: true, setupCalls: 1 });
    assert.deepEqual(r.apps, [
      { name: "Hello worker", type: "web-worker" },
      { name: "inline worker", type: "web-worker" },
    ]);
    assert.equal(r.windows, 0, "inline plugin source must not be shown as an HTML window");
  });

  env.test("a window plugin shows its <window> with its <style>; setup() and run({data, config}) are called", async () => {
    const page = await env.page();
    await startCore(page);
    const r = await page.evaluate(async () => {
      const svc = await api.loadApp({
        src: "/apps/hello-window.imjoy.html",
        data: { image: [1, 2, 3] },
        config: { threshold: 0.5 },
      });
      const iframe = document.querySelector(".window-box iframe");
      return {
        state: await svc.getState(),
        canReachPage: await svc.canReachPage(),
        sandbox: iframe && iframe.getAttribute("sandbox"),
        src: iframe && iframe.src,
      };
    });
    assert.equal(r.state.title, "Hello window");
    assert.equal(r.state.setup, true, "setup() was called");
    assert.equal(r.state.titleColor, "17px", "the <style> block applies");
    assert.deepEqual(r.state.lastRun, { data: { image: [1, 2, 3] }, config: { threshold: 0.5 } });
    assert.equal(r.canReachPage, false, "a plugin window has an opaque origin");
    assert.match(r.sandbox, /allow-scripts/);
    assert.doesNotMatch(r.sandbox, /allow-same-origin/);
    assert.match(r.src, /\/dist\/hypha-app-iframe\.html$/);
  });

  env.test("an iframe plugin with a YAML config runs the script of its tag, hidden", async () => {
    const page = await env.page();
    await startCore(page);
    const r = await page.evaluate(async () => {
      const fast = await api.loadApp({ src: "/apps/background-iframe.imjoy.html" });
      const careful = await api.loadApp({ src: "/apps/background-iframe.imjoy.html", tag: "careful", name: "careful" });
      const hidden = [...document.querySelectorAll("body > iframe")].map((f) => f.style.display);
      let error = null;
      try {
        await careful.double("x");
      } catch (e) {
        error = e.message;
      }
      return { fast: await fast.mode(), careful: await careful.mode(), double: await fast.double(21), error, hidden };
    });
    assert.equal(r.fast, "fast");
    assert.equal(r.careful, "careful");
    assert.equal(r.double, 42);
    assert.match(r.error, /double\(\) needs a number/);
    assert.deepEqual(r.hidden, ["none", "none"]);
  });

  env.test("a malformed plugin fails loadApp with an error naming the block and the problem", async () => {
    const page = await env.page();
    await startCore(page);
    const badJson = await settle(page, () =>
      api.loadApp({ src: '<config lang="json">\n{"name": "x", "type": \n</config>\n<script>api.export({})</script>' }),
    );
    assert.match(badJson.error, /Failed to parse the plugin/);
    assert.match(badJson.error, /<config> block/);
    const badType = await settle(page, () =>
      api.loadApp({ src: '<config lang="json">{"name": "x", "type": "native-python"}</config>\n<script>1</script>' }),
    );
    assert.match(badType.error, /Unsupported plugin type: native-python/);
    const throwing = await settle(page, () =>
      api.loadApp({ src: '<config lang="json">{"name": "t", "type": "web-worker"}</config>\n<script>throw new Error("boom at load")</script>' }),
    );
    assert.match(throwing.error, /The app failed to load: .*boom at load/);
    const missing = await settle(page, () => api.loadApp({ src: "/apps/no-such-plugin.imjoy.html" }));
    assert.match(missing.error, /Failed to fetch the plugin .*no-such-plugin\.imjoy\.html: HTTP 404/);
  });

  env.test("a legacy imjoy-rpc app is callable, calls the core as itself, and gets run()", async () => {
    const page = await env.page();
    await startCore(page);
    const r = await page.evaluate(async () => {
      const svc = await api.loadApp({
        src: new URL("/apps/legacy-imjoy-app.html", location.href).href,
        data: { n: 1 },
        config: { mode: "legacy" },
      });
      return {
        id: svc.id,
        add: await svc.add(2, 3),
        echo: await svc.echoThroughCore("through the core"),
        runs: await svc.getRuns(),
        own: await svc.listMyServices(),
        byName: await (await api.getApp("Legacy ImJoy app")).add(40, 2),
        chunkLoaded: performance.getEntriesByType("resource").some((e) => e.name.endsWith("/dist/hypha-core-imjoy.mjs")),
      };
    });
    assert.match(r.id, /^default\/client-[a-z0-9]+:default$/);
    assert.equal(r.add, 5);
    assert.equal(r.echo, "through the core");
    assert.deepEqual(r.runs, [{ data: { n: 1 }, config: { mode: "legacy" } }]);
    assert.ok(r.own.includes(r.id), `the app lists services as a client of 'default': ${r.own}`);
    assert.equal(r.byName, 42);
    assert.equal(r.chunkLoaded, true, "imjoy-rpc's page side is loaded when a legacy app appears");
  });

  env.test("the plugin parser and imjoy-rpc's page side are downloaded only when needed", async () => {
    const page = await env.page();
    await startCore(page);
    const r = await page.evaluate(async () => {
      const paths = () => performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname);
      await api.loadApp({ type: "web-worker", src: "/apps/compute-worker.js" });
      await api.loadApp({ src: new URL("/apps/standalone-iframe.html", location.href).href });
      const before = paths();
      await api.loadApp({ src: "/apps/hello-worker.imjoy.html" });
      return { before, after: paths() };
    });
    assert.ok(r.before.includes("/dist/hypha_core_bg.wasm"));
    for (const lazy of ["/dist/hypha-core-imjoy.mjs", "/dist/hypha-core-plugin.mjs", "/dist/hypha_core_plugin_bg.wasm"]) {
      assert.ok(!r.before.includes(lazy), `${lazy} loaded without a plugin: ${r.before.join(", ")}`);
    }
    assert.ok(r.after.includes("/dist/hypha_core_plugin_bg.wasm"), "a plugin loads the parser");
    assert.ok(!r.after.includes("/dist/hypha-core-imjoy.mjs"));
  });

  env.test("apps run with their opener's identity, never root's, and other workspaces cannot see or close them", async () => {
    const page = await env.page();
    await startCore(page);
    const r = await page.evaluate(async () => {
      const whoAmI = `<config lang="json">{"name": "who", "type": "web-worker"}</config>
<script lang="javascript">
api.export({ whoAmI: () => ({ id: api.config.user.id, scopes: api.config.user.scopes, workspace: api.config.workspace }) });
</script>`;
      const byRoot = await api.loadApp({ src: whoAmI, name: "root's app" });
      const token = await api.generateToken({ workspace: "ws-x" });
      const client = await core.connect({ token });
      const byClient = await client.loadApp({ src: whoAmI, name: "client's app" });
      return {
        root: await byRoot.whoAmI(),
        client: await byClient.whoAmI(),
        clientUser: client.config.user.id,
        // hypha-rpc's own listApps: the `default` services of the client's workspace.
        clientSees: (await client.listApps()).map((a) => a.id),
        clientAppId: byClient.id,
        rootSees: (await api.listApps()).map((a) => a.name).sort(),
        clientClosesRootApp: await client.closeApp({ name: "root's app" }),
        rootAppStillAnswers: (await byRoot.whoAmI()).id,
      };
    });
    assert.notEqual(r.root.id, "root", "an app opened by root must not be root");
    assert.deepEqual(r.root.scopes, ["ws:default#rw"]);
    assert.equal(r.root.workspace, "default");
    assert.equal(r.client.id, r.clientUser, "an app opened by a client has that client's user");
    assert.deepEqual(r.client.scopes, ["ws:ws-x#rw"]);
    assert.equal(r.client.workspace, "ws-x");
    assert.deepEqual(r.clientSees, [r.clientAppId]);
    assert.deepEqual(r.rootSees, ["client's app", "root's app"]);
    assert.equal(r.clientClosesRootApp, false);
    assert.equal(r.rootAppStillAnswers, r.root.id);
  });

  env.test("closing an app (closeApp, worker.terminate, removing its window) rejects calls in flight and removes its services", async () => {
    const page = await env.page();
    await startCore(page);
    const r = await page.evaluate(async () => {
      const failure = (promise) => promise.then(() => "resolved", (e) => String(e.message || e));
      const ids = async () => (await api.listServices()).map((s) => s.id);

      // closeApp on a worker plugin
      const worker = await api.loadApp({ src: "/apps/hello-worker.imjoy.html" });
      const pending = failure(worker.sleep(20000));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const closed = await api.closeApp({ name: "Hello worker" });
      const workerCall = await pending;
      const workerGone = !(await ids()).includes(worker.id);

      // removing a window plugin's iframe from the page
      const win = await api.loadApp({ src: "/apps/hello-window.imjoy.html" });
      await win.getState();
      const winId = win.id;
      document.querySelector(".window-box iframe").remove();
      const windowCall = await failure(win.getState());
      await new Promise((resolve) => setTimeout(resolve, 50));
      const windowGone = !(await ids()).includes(winId);

      // worker.terminate() on a worker the page mounted itself
      const raw = new Worker("/apps/compute-worker.js");
      const mounted = await core.mountWorker(raw, { client_id: "mounted-compute" });
      const heavy = failure(mounted.service.heavyComputation(5e8));
      await new Promise((resolve) => setTimeout(resolve, 100));
      raw.terminate();
      const terminatedCall = await heavy;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return {
        closed,
        workerCall,
        workerGone,
        windowCall,
        windowGone,
        terminatedCall,
        mountedGone: !(await ids()).some((id) => id.includes("mounted-compute")),
        apps: await api.listApps(),
        connections: Object.keys(core.connections).filter((k) => !k.endsWith("/root")),
      };
    });
    assert.equal(r.closed, true);
    assert.match(r.workerCall, /disconnected/);
    assert.ok(r.workerGone, "the worker plugin's services are gone");
    assert.match(r.windowCall, /disconnected|not connected/);
    assert.ok(r.windowGone, "the window plugin's services are gone");
    assert.match(r.terminatedCall, /disconnected/);
    assert.ok(r.mountedGone);
    assert.deepEqual(r.apps, []);
    assert.deepEqual(r.connections, []);
  });
});
