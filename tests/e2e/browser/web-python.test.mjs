// web-python apps (issue 11): Python plugins run in Pyodide in a Web Worker, offline. Every
// request that leaves 127.0.0.1 is aborted here, so Pyodide, hypha-rpc and the wheels must all
// come from dist/web-python/ (scripts/build-python.mjs).
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

const PYTHON_APP_URL = "/apps/hello-python.imjoy.html";

/** A web-python plugin's source: `config` merged into a default config, one Python script. */
function pythonPlugin(config, script) {
  const full = { name: "py test", type: "web-python", version: "0.1.0", ...config };
  return `<config lang="json">${JSON.stringify(full)}</config>\n<script lang="python">\n${script}\n</script>\n`;
}

/**
 * A tab on the test harness with a started HyphaCore (window.core/api), every request outside
 * 127.0.0.1 aborted and recorded in `page.blocked`, every URL asked for in `page.requests`, and
 * the core's app_progress events in `window.progress`.
 */
async function offlinePage(env) {
  const page = await env.page("/fixtures/harness.html", { waitFor: false });
  page.requests = [];
  page.blocked = [];
  page.on("request", (request) => page.requests.push(request.url()));
  await page.context().route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1" || url.protocol === "blob:" || url.protocol === "data:") return route.continue();
    page.blocked.push(url.href);
    return route.abort("internetdisconnected");
  });
  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  await page.evaluate(async () => {
    window.progress = [];
    const core = new HyphaCore();
    core.on("app_progress", (event) => window.progress.push(event));
    window.core = core;
    window.api = await core.start();
  });
  return page;
}

/** `api.loadApp(config)` in the page: `{value: seconds}` or `{error: message, seconds}`. */
function loadInPage(page, config) {
  return page.evaluate(async (config) => {
    const started = performance.now();
    try {
      window.app = await api.loadApp(config);
      return { seconds: (performance.now() - started) / 1000 };
    } catch (e) {
      return { error: String((e && e.message) || e), seconds: (performance.now() - started) / 1000 };
    }
  }, config);
}

const pyodideRequests = (page) => page.requests.filter((url) => /\/web-python\//.test(url));

describe("web-python apps: Python plugins in Pyodide, offline", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("a page that loads no Python app downloads none of Pyodide", async () => {
    const page = await offlinePage(env);
    const r = await page.evaluate(async () => {
      const worker = await api.loadApp({ src: "/apps/hello-worker.imjoy.html" });
      return await worker.hello("js");
    });
    assert.equal(r, "Hello, js! (from a web-worker plugin)");
    assert.deepEqual(pyodideRequests(page), []);
    assert.deepEqual(page.blocked, []);
  });

  env.test(
    "a plugin from a URL: JS calls Python, Python calls back JS, exceptions carry their message, closing ends it",
    async () => {
      const page = await offlinePage(env);
      const loaded = await loadInPage(page, { src: PYTHON_APP_URL });
      assert.equal(loaded.error, undefined, loaded.error);
      const r = await page.evaluate(async () => {
        const app = window.app;
        const clientId = app.id.split(":")[0];
        const out = {
          hello: await app.hello("page"),
          stats: await app.stats([1, 2, 3, 4]),
          mapped: await app.map_with([1, 2, 3], (v) => v * 10),
          where: await app.where(),
          apps: (await api.listApps()).map((a) => ({ name: a.name, type: a.type })),
          progress: window.progress.map((p) => p.stage),
          progressNames: [...new Set(window.progress.map((p) => p.name))],
        };
        try {
          await app.divide(1, 0);
          out.divide = "no error";
        } catch (e) {
          out.divide = String(e.message || e);
        }
        await api.closeApp({ id: app.id });
        const [ws, cid] = clientId.split("/");
        out.servicesAfterClose = (await api.listServices({ workspace: ws, client_id: cid })).length;
        out.appsAfterClose = (await api.listApps()).length;
        try {
          await app.hello("after close");
          out.afterClose = "answered";
        } catch (e) {
          out.afterClose = "rejected";
        }
        return out;
      });
      assert.match(r.hello, /^Hello, page! \(from Python 3\.\d+\)$/);
      assert.deepEqual(r.stats, { count: 4, mean: 2.5, median: 2.5, stdev: 1.2909944487358056 });
      assert.deepEqual(r.mapped, [10, 20, 30]);
      assert.deepEqual(r.where, { platform: "emscripten", setup_calls: 1 });
      assert.deepEqual(r.apps, [{ name: "Hello Python", type: "web-python" }]);
      assert.match(r.divide, /ZeroDivisionError: division by zero/);
      assert.deepEqual(r.progressNames, ["Hello Python"]);
      for (const stage of ["loading Python", "installing hypha-rpc", "starting hypha-rpc", "running"]) {
        assert.ok(r.progress.includes(stage), `no "${stage}" in the progress events ${JSON.stringify(r.progress)}`);
      }
      assert.equal(r.servicesAfterClose, 0);
      assert.equal(r.appsAfterClose, 0);
      assert.equal(r.afterClose, "rejected");
      assert.ok(pyodideRequests(page).some((url) => url.endsWith("/web-python/pyodide/pyodide.asm.wasm")));
      assert.deepEqual(page.blocked, [], "a web-python app must not reach outside 127.0.0.1");
    },
  );

  env.test("inline source: imjoy/hypha_rpc imports, a shipped requirement, top-level await, setup and run", async () => {
    const page = await offlinePage(env);
    const source = pythonPlugin(
      { name: "inline python", requirements: ["six"] },
      [
        "import asyncio",
        "import six",
        "from hypha_rpc import api",
        "from imjoy import api as imjoy_api",
        "calls = []",
        "class App:",
        "    async def setup(self):",
        "        calls.append('setup')",
        "    async def run(self, ctx):",
        "        calls.append(['run', ctx['data']])",
        "    def info(self):",
        "        return {'calls': calls, 'six': six.__version__, 'same_api': api is imjoy_api}",
        "await asyncio.sleep(0)",
        "await api.export(App())",
      ].join("\n"),
    );
    const loaded = await loadInPage(page, { src: source, data: { x: 1 } });
    assert.equal(loaded.error, undefined, loaded.error);
    const info = await page.evaluate(async () => {
      await window.app.run({ data: "from the page" });
      return await window.app.info();
    });
    assert.deepEqual(info, { calls: ["setup", ["run", "from the page"]], six: "1.17.0", same_api: true });
    assert.deepEqual(page.blocked, []);
  });

  env.test("a script that raises fails loadApp at once with the Python error", async () => {
    const page = await offlinePage(env);
    const source = pythonPlugin({ name: "broken" }, "x = 1\ny = undefined_name + x\n");
    const r = await loadInPage(page, { src: source });
    assert.match(r.error ?? "", /NameError: name 'undefined_name' is not defined \(line 2 of <broken script 1>\)/);
    assert.ok(r.seconds < 60, `loadApp took ${r.seconds} s: it must fail at once, not at the timeout`);
    assert.deepEqual(await page.evaluate(async () => (await api.listApps()).length), 0);
  });

  env.test("missing and compiled packages give errors that name them and say why", async () => {
    const page = await offlinePage(env);
    const missing = await loadInPage(page, {
      src: pythonPlugin({ name: "needs more", requirements: ["not-shipped-package==1.0"] }, "api.export({})"),
    });
    assert.match(missing.error ?? "", /cannot install not-shipped-package==1\.0: not among the wheels this build ships/);
    assert.match(missing.error ?? "", /six==1\.17\.0/, "the error lists what the build ships");
    assert.ok(missing.seconds < 60, `took ${missing.seconds} s`);
    assert.ok(
      page.blocked.some((url) => url.startsWith("https://pypi.org/")),
      `micropip should have asked PyPI (blocked): ${JSON.stringify(page.blocked)}`,
    );

    const numpyRequirement = await loadInPage(page, {
      src: pythonPlugin({ name: "wants numpy", requirements: ["numpy>=1.20"] }, "api.export({})"),
    });
    assert.match(numpyRequirement.error ?? "", /numpy is a compiled package: PyPI has only CPython binary wheels/);

    const numpyImport = await loadInPage(page, {
      src: pythonPlugin({ name: "imports numpy" }, "import numpy as np\napi.export({})"),
    });
    assert.match(
      numpyImport.error ?? "",
      /ModuleNotFoundError: No module named 'numpy': numpy is a compiled package.*\(line 1 of <imports numpy script 1>\)/,
    );
  });
});
