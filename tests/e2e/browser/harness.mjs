// Shared setup of the browser end-to-end tests: the static server (scripts/serve.mjs on a free
// port) and Debian's Chromium driven by playwright-core with a fresh profile.
//
// Environment: CHROMIUM_BIN (default /usr/bin/chromium), HYPHA_BROWSER_LOGS=1 prints every
// browser console line, HEADFUL=1 shows the browser (needs a display).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_BIN || process.env.CHROME_BIN || "/usr/bin/chromium";
/** Same flags as chromium_launch_flags in scripts/lib/deps.sh. */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
/** Per-test timeout (node:test). */
export const T = { timeout: 90_000 };

/** Start `scripts/serve.mjs --port 0`; resolves with `{origin, close()}`. */
export async function startServer() {
  for (const f of ["dist/hypha-core.mjs", "dist/hypha_core_bg.wasm", "node_modules/hypha-rpc/dist/hypha-rpc-websocket.min.js"]) {
    if (!existsSync(join(REPO, f))) {
      throw new Error(`${f} is missing: run \`bash scripts/build-wasm.sh && node scripts/build-js.mjs\` (and npm ci)`);
    }
  }
  const proc = spawn(process.execPath, [join(REPO, "scripts", "serve.mjs"), "--port", "0", "--host", "127.0.0.1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const origin = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`serve.mjs did not start: ${out}`)), 15_000);
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/SERVING (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", (chunk) => (out += chunk));
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve.mjs exited (${code}): ${out}`));
    });
  });
  return {
    origin,
    async close() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((res) => proc.once("exit", res));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Chromium with a fresh user-data-dir. `newPage(path)` opens `origin + path` in a new tab and
 * records its console errors and uncaught exceptions in `page.errors` (all console lines in
 * `page.logs`). `extraArgs`: more Chromium flags.
 */
export async function launchBrowser(origin, { extraArgs = [] } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (scripts/lib/deps.sh ensure_chromium)`);
  }
  const profile = mkdtempSync(join(tmpdir(), "hypha-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: process.env.HEADFUL !== "1",
    args: [...CHROMIUM_FLAGS, ...extraArgs],
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(30_000);
  const verbose = process.env.HYPHA_BROWSER_LOGS === "1";
  return {
    context,
    async newPage(path = "/fixtures/harness.html", { waitFor } = {}) {
      const page = await context.newPage();
      page.logs = [];
      page.errors = [];
      page.on("console", (msg) => {
        const line = `[${msg.type()}] ${msg.text()}`;
        page.logs.push(line);
        if (msg.type() === "error") page.errors.push(line);
        if (verbose) console.log(`  browser ${line}`);
      });
      page.on("pageerror", (error) => {
        const line = `[pageerror] ${error.stack || error.message}`;
        page.logs.push(line);
        page.errors.push(line);
        if (verbose) console.log(`  browser ${line}`);
      });
      await page.goto(origin + path);
      if (waitFor !== false) {
        await page.waitForFunction(waitFor || (() => window.harnessReady === true));
      }
      return page;
    },
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      }
    },
  };
}

/**
 * Hooks and helpers for one test file (call it inside `describe`):
 *   env.origin          the static server's origin
 *   env.page(path)      a new tab on `origin + path` (closed after each test)
 *   env.test(name, fn)  `it(name, fn)` that prints the browser console of its pages on failure
 */
export function browserSuite({ before, after, afterEach, it }) {
  const env = { origin: null, server: null, browser: null, pages: [] };
  before(async () => {
    env.server = await startServer();
    env.origin = env.server.origin;
    env.browser = await launchBrowser(env.origin);
  });
  afterEach(async () => {
    for (const page of env.pages.splice(0)) await page.close().catch(() => {});
  });
  after(async () => {
    try {
      await env.browser?.close();
    } finally {
      await env.server?.close();
    }
  });
  env.page = async (path, options) => {
    const page = await env.browser.newPage(path, options);
    env.pages.push(page);
    return page;
  };
  env.test = (name, fn, options = {}) =>
    it(name, { ...T, ...options }, async (t) => {
      try {
        await fn(t);
      } catch (error) {
        for (const page of env.pages) {
          console.log(`--- browser console of ${page.url()} (last 60 lines) ---\n${page.logs.slice(-60).join("\n")}`);
        }
        throw error;
      }
    });
  return env;
}
