// The built bundle in headless Chromium (driven over the DevTools protocol): windows from HTML
// and URLs, add_window, web-worker apps, mountIframe, host methods called from an iframe,
// forged postMessages and close(). Skipped when no Chromium is installed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const T = { timeout: 60000 };
const CHROME = [process.env.CHROME_BIN, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find(
  (p) => p && existsSync(p),
);

const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
};

/** A static server for the repository (dist/, node_modules/hypha-rpc, fixtures), CORS open. */
function serveRepo() {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(ROOT, path);
    const allowed = ["dist/", "node_modules/hypha-rpc/", "js/test-fixtures/browser/"].some((p) => path.startsWith("/" + p));
    if (!allowed || !file.startsWith(ROOT) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] || "application/octet-stream",
      "access-control-allow-origin": "*",
      "cache-control": "no-store",
    });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Chromium with a DevTools connection: `evaluate(expression)` in one page. */
async function launchChrome(pageUrl) {
  const profile = mkdtempSync(join(tmpdir(), "hypha-core-chrome-"));
  const proc = spawn(
    CHROME,
    [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const endpoint = await new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start: ${text}`)), 20000);
    proc.stderr.on("data", (chunk) => {
      text += chunk;
      const m = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => reject(new Error(`chromium exited (${code}): ${text}`)));
  });
  const ws = new WebSocket(endpoint, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map();
  const logs = [];
  ws.on("message", (raw) => {
    const msg = JSON.parse(raw.toString());
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(msg.error.message));
      else resolve(msg.result);
    } else if (msg.method === "Runtime.consoleAPICalled") {
      logs.push(`${msg.params.type}: ${msg.params.args.map((a) => a.value ?? a.description).join(" ")}`);
    } else if (msg.method === "Runtime.exceptionThrown") {
      logs.push(`exception: ${msg.params.exceptionDetails.exception?.description || msg.params.exceptionDetails.text}`);
    }
  });
  const send = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  await send("Runtime.enable", {}, sessionId);
  await send("Page.enable", {}, sessionId);
  await send("Page.navigate", { url: pageUrl }, sessionId);
  for (let i = 0; i < 100; i++) {
    const r = await send("Runtime.evaluate", { expression: "document.readyState", returnByValue: true }, sessionId);
    if (r.result.value === "complete") break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    logs,
    async evaluate(expression) {
      const r = await send(
        "Runtime.evaluate",
        { expression, awaitPromise: true, returnByValue: true, userGesture: true },
        sessionId,
      );
      if (r.exceptionDetails) {
        throw new Error(r.exceptionDetails.exception?.description || r.exceptionDetails.text);
      }
      return r.result.value;
    },
    async close() {
      ws.close();
      const exited = new Promise((res) => {
        if (proc.exitCode !== null || proc.signalCode !== null) res();
        else proc.once("exit", res);
      });
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      proc.stderr.destroy();
      try {
        // Chromium's helper processes may still be writing to the profile for a moment.
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      } catch (e) {
        console.warn(`could not remove ${profile}: ${e.message}`);
      }
    },
  };
}

describe("hypha-core in Chromium", { skip: CHROME ? false : "no chromium found" }, () => {
  let http;
  let chrome;
  let origin;
  const run = (name) =>
    chrome.evaluate(`import("/js/test-fixtures/browser/scenarios.mjs").then((m) => m.run(${JSON.stringify(name)}))`);

  before(async () => {
    http = await serveRepo();
    origin = `http://127.0.0.1:${http.address().port}`;
    chrome = await launchChrome(`${origin}/js/test-fixtures/browser/index.html`);
  });
  after(async () => {
    if (chrome && process.env.HYPHA_BROWSER_LOGS) console.log(chrome.logs.join("\n"));
    try {
      await chrome?.close();
    } finally {
      http?.closeAllConnections?.();
      await new Promise((res) => (http ? http.close(res) : res()));
    }
  });

  const step = (name, fn) =>
    it(name, T, async () => {
      try {
        await fn();
      } catch (e) {
        console.log(chrome.logs.slice(-30).join("\n"));
        throw e;
      }
    });

  step("starts in the page with the browser defaults", async () => {
    const r = await run("start");
    assert.equal(r.url, "https://local-hypha-server:8080");
    assert.equal(r.environment, "browser");
    assert.equal(r.host, "local-hypha-server");
    assert.equal(r.id, "root");
    // The app templates ship next to the module, so that is where baseUrl points by default.
    assert.equal(r.baseUrl, `${origin}/dist/`);
  });

  step("opens HTML source in a sandboxed srcdoc iframe (allow-scripts only)", async () => {
    const r = await run("htmlWindow");
    assert.equal(r.greet, "hi page from srcdoc");
    assert.equal(r.sandbox, "allow-scripts");
    assert.equal(r.origin, "null"); // an opaque origin: no access to the page
    assert.equal(r.window, "inline");
  });

  step("opens a URL app inside the element named by window_id", async () => {
    const r = await run("urlWindowIntoElement");
    assert.equal(r.iframeInPane, 1);
    assert.match(r.greet, /^hello page from client-/);
    assert.equal(r.whoami.workspace, "default");
    assert.equal(r.whoami.user, r.whoami.client_id); // root's apps get their own identity
  });

  step("asks the page for an element with add_window", async () => {
    const r = await run("addWindowEvent");
    assert.equal(r.seen.length, 1);
    assert.match(r.seen[0].window_id, /^window-/);
    assert.equal(r.seen[0].workspace, "default");
    assert.match(r.greet, /^hello event from client-/);
  });

  step("runs a web-worker app from a relative URL", async () => {
    const r = await run("workerApp");
    assert.equal(r.greet, "hello page from the worker");
    assert.equal(r.whoami.workspace, "default");
    assert.equal(r.sameApp, true);
  });

  step("serves host methods to an iframe through the manager, with its identity", async () => {
    const r = await run("hostCallsFromAnIframe");
    assert.deepEqual(r.alerts, ["from the app"]);
    assert.equal(r.hello, `hello app as default/${r.me.client_id}`);
    assert.match(r.nested, /^hello nested from client-/);
    assert.match(String(r.forged), /^refused: .*permission denied/i);
  });

  step("mounts an existing iframe into another workspace", async () => {
    const r = await run("mountIframe");
    assert.equal(r.workspace, "ws-mounted");
    assert.equal(r.client_id, "mounted-1");
    assert.equal(r.greet, "hello mount from mounted-1");
    assert.deepEqual(r.whoami, { workspace: "ws-mounted", client_id: "mounted-1", user: "mounted-1" });
    assert.equal(r.sourceIsWindow, true);
  });

  step("ignores bridge messages from frames it did not mount", async () => {
    const r = await run("forgedPostMessage");
    assert.equal(r.after, r.before);
  });

  step("closes and starts again", async () => {
    const r = await run("close");
    assert.ok(r.clients > 3, `expected several clients, got ${r.clients}`);
    assert.equal(r.stopped, true);
    assert.equal(r.restarted, true);
  });
});
