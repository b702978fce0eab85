// Shared by the browser benchmark's driver (run.mjs) and its diagnostics (profile.mjs,
// threads.mjs): the reference package in a cache directory, the static server, Chromium, and a
// fresh bench page.
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { contentType, fileUnder } from "../../scripts/lib/static-files.mjs";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_FLAGS } from "../../tests/e2e/browser/harness.mjs";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, "..", "..");
export const REF_VERSION = "0.20.86";
// The browser and its flags are the e2e tests' (one list for the whole repo).
export { CHROMIUM, CHROMIUM_FLAGS };

// ------------------------------------------------------------------ the reference package

function cacheRoot() {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "hypha-core-tools");
}

/** The unpacked hypha-core@0.20.86 package directory; `npm pack` + tar when not cached yet. */
export function ensureReference() {
  if (process.env.HYPHA_CORE_REF_DIR) return resolve(process.env.HYPHA_CORE_REF_DIR);
  const dir = join(cacheRoot(), `hypha-core-${REF_VERSION}`);
  const pkg = join(dir, "package");
  if (existsSync(join(pkg, "dist", "hypha-core.mjs"))) return pkg;
  console.error(`[bench] fetching hypha-core@${REF_VERSION} into ${dir} (npm pack)`);
  const tmp = mkdtempSync(join(tmpdir(), "hypha-core-ref-"));
  try {
    const name = execFileSync("npm", ["pack", `hypha-core@${REF_VERSION}`, "--silent", "--pack-destination", tmp], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    })
      .trim()
      .split("\n")
      .pop();
    mkdirSync(dir, { recursive: true });
    execFileSync("tar", ["xzf", join(tmp, name), "-C", dir], { stdio: "inherit" });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!existsSync(join(pkg, "dist", "hypha-core.mjs"))) throw new Error(`${pkg}/dist/hypha-core.mjs missing after npm pack`);
  return pkg;
}

// ------------------------------------------------------------------ static server


/**
 * Serves `mounts` (URL prefix → directory) on a free 127.0.0.1 port, GET/HEAD only. Responses
 * carry COOP/COEP so the page is cross-origin isolated (5 µs performance.now()), and an ETag with
 * `no-cache`, so a repeated load (the same worker script again) is a 304, as from a real server.
 */
export async function startServer(mounts) {
  const lookup = (pathname) => {
    const mount = mounts.find(([prefix]) => pathname.startsWith(prefix));
    return mount ? fileUnder(mount[1], pathname.slice(mount[0].length)) : null;
  };
  const server = createServer((req, res) => {
    const headers = {
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cross-origin-resource-policy": "same-origin",
      "x-content-type-options": "nosniff",
    };
    const url = new URL(req.url, "http://127.0.0.1");
    const file = lookup(url.pathname);
    let stat = null;
    try {
      if (file) stat = statSync(file);
    } catch {
      stat = null;
    }
    if ((req.method !== "GET" && req.method !== "HEAD") || !stat || !stat.isFile()) {
      res.writeHead(stat ? 405 : 404, { ...headers, "content-type": "text/plain" });
      return res.end("no\n");
    }
    const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    Object.assign(headers, { etag, "cache-control": "no-cache" });
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      return res.end();
    }
    res.writeHead(200, {
      ...headers,
      "content-type": contentType(file),
      "content-length": stat.size,
    });
    if (req.method === "HEAD") return res.end();
    createReadStream(file).on("error", () => res.destroy()).pipe(res);
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    lookup,
    close: () =>
      new Promise((ok) => {
        server.close(ok);
        server.closeAllConnections();
      }),
  };
}

// ------------------------------------------------------------------ helpers

export const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function reason(error) {
  let text = String((error && error.message) || error);
  text = text.replace(/^(page|frame)\.evaluate: /, "").replace(/^Error: /, "");
  text = text.split("\n")[0].trim();
  return text.length > 90 ? text.slice(0, 87) + "..." : text;
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms / 1000} s (${what})`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Debian's Chromium with the flags of the browser e2e tests, on a fresh temporary profile, kept
 * offline: every request that leaves 127.0.0.1 goes to a proxy on 127.0.0.1 that hangs up, and
 * fails (openPage records it). Chromium never sends loopback requests to a proxy.
 *
 * Not Playwright's request interception (`context.route`): that pauses every request, the
 * page's own included, for a round trip to this process (3–6 ms here), which no user pays and
 * which weighs on a start that fetches two files more than on one that fetches one.
 */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (set CHROMIUM_BIN)`);
  // What it refused, by the request line ("CONNECT host:443 …", "GET http://host/… …"), for the
  // test that checks the page stays offline (bounded: a first chunk, a thousand lines).
  const refused = [];
  const refusingProxy = createNetServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", (chunk) => {
      if (refused.length < 1000) refused.push(chunk.toString("latin1", 0, Math.min(chunk.length, 300)).split("\r\n")[0]);
      socket.destroy();
    });
    socket.setTimeout(5000, () => socket.destroy());
  });
  await new Promise((ok, fail) => {
    refusingProxy.once("error", fail);
    refusingProxy.listen(0, "127.0.0.1", ok);
  });
  const proxy = `--proxy-server=http://127.0.0.1:${refusingProxy.address().port}`;
  try {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: process.env.HEADFUL !== "1",
      args: [...CHROMIUM_FLAGS, proxy],
    });
    browser.on("disconnected", () => refusingProxy.close());
    browser.refusedByProxy = refused;
    return browser;
  } catch (error) {
    refusingProxy.close();
    throw error;
  }
}

/**
 * Opens a fresh context + page on the bench page, with every response recorded, and every
 * request that left 127.0.0.1 (refused by launchChromium's proxy) recorded.
 */
export async function openPage(browser, origin, opts, label) {
  const context = await browser.newContext();
  context.setDefaultTimeout(60_000);
  const responses = [];
  const blocked = [];
  const page = await context.newPage();
  // Refused by launchChromium's proxy; workers' requests are reported here too.
  page.on("requestfailed", (request) => {
    if (!request.url().startsWith(origin + "/")) blocked.push(request.url());
  });
  page.logs = [];
  page.on("response", (r) => responses.push({ url: r.url(), status: r.status() }));
  page.on("console", (msg) => {
    const line = `[${msg.type()}] ${msg.text()}`;
    if (page.logs.length < 2000) page.logs.push(line);
    if (opts.verbose) console.error(`  ${label} console ${line}`);
  });
  page.on("pageerror", (error) => {
    const line = `[pageerror] ${error.message}`;
    page.logs.push(line);
    if (opts.verbose) console.error(`  ${label} ${line}`);
  });
  await page.goto(`${origin}/bench/index.html`);
  await page.waitForFunction(() => window.benchReady === true);
  return { context, page, responses, blocked };
}

/**
 * One implementation on the bench page, for the diagnostic scripts (profile.mjs, threads.mjs):
 * the static server (the bench, the worker's hypha-rpc, ours from `dist`, the reference's
 * package for `impl: "reference"`), Chromium and a fresh page. `ev(fn, ...args)` runs
 * `window.bench[fn]` in the page; `moduleUrl` is the implementation's module; `close()` ends all.
 */
export async function benchSession({ impl, dist }) {
  const mounts = [
    ["/bench/", HERE],
    ["/vendor/hypha-rpc/", join(REPO, "node_modules", "hypha-rpc", "dist")],
    ["/ours/", dist],
  ];
  if (impl === "reference") mounts.push(["/ref/", join(ensureReference(), "dist")]);
  const server = await startServer(mounts);
  const close = async (browser) => {
    if (browser) await browser.close();
    await server.close();
  };
  let browser = null;
  try {
    browser = await launchChromium();
    const { context, page } = await openPage(browser, server.origin, { verbose: false }, impl);
    return {
      server,
      browser,
      context,
      page,
      moduleUrl: `${server.origin}/${impl === "ours" ? "ours" : "ref"}/hypha-core.mjs`,
      workerUrl: `${server.origin}/bench/echo-worker.js`,
      ev: (fn, ...args) => page.evaluate(([fn, args]) => window.bench[fn](...args), [fn, args]),
      close: () => close(browser),
    };
  } catch (error) {
    await close(browser);
    throw error;
  }
}

/**
 * The diagnostic scripts' options: `--name value` or `--name=value` for each key of `defaults`
 * (a number where the default is one; `--dist` resolved to an absolute path). An unknown option
 * ends the process with status 2.
 */
export function parseOptions(argv, defaults, script) {
  const o = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes("=") ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const key = flag.slice(2);
    if (!flag.startsWith("--") || !Object.hasOwn(defaults, key)) {
      console.error(`${script}: unknown argument ${argv[i]}`);
      process.exit(2);
    }
    const value = inline !== undefined ? inline : argv[++i];
    o[key] = typeof defaults[key] === "number" ? Number(value) : key === "dist" ? resolve(value) : value;
  }
  return o;
}
