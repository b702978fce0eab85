#!/usr/bin/env node
// web-python apps in Chromium, offline (no host but 127.0.0.1 resolves): how long
// `loadApp` of www/apps/hello-python.imjoy.html takes to its first answered call, cold (a fresh
// browser profile: empty HTTP cache) and warm (a new tab of the same profile: the files
// revalidate with 304s), the JS → Python call round trip, and what the first app downloads.
// Numbers printed, never asserted. Needs dist/ with dist/web-python/ (npm run build).
//
//   node bench/web-python.mjs [--rounds 3] [--calls 300]
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { REPO, launchBrowser, startServer } from "../tests/e2e/browser/harness.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const ROUNDS = arg("--rounds", 3);
const CALLS = arg("--calls", 300);
const APP = "/apps/hello-python.imjoy.html";

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Offline by DNS: every host but 127.0.0.1 fails to resolve. (Not Playwright's request routing,
// which turns the HTTP cache off and would make "warm" as slow as cold.)
const OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"];

/** A tab with a started HyphaCore; `requests` collects every URL it (or a worker) asks for. */
async function offlineTab(browser) {
  const page = await browser.newPage("/fixtures/harness.html", { waitFor: false });
  page.requests = [];
  page.on("request", (request) => page.requests.push(request.url()));
  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  await page.evaluate(async () => {
    window.api = await new HyphaCore().start();
  });
  return page;
}

/** Seconds from loadApp to the first answered call, and `calls` round trips' p50/p99 in ms. */
function loadAndCall(page, calls) {
  return page.evaluate(
    async ([src, calls]) => {
      const started = performance.now();
      const app = await api.loadApp({ src });
      await app.hello("bench");
      const firstCall = (performance.now() - started) / 1000;
      const times = [];
      for (let i = 0; i < calls; i++) {
        const t = performance.now();
        await app.hello("bench");
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      await api.closeApp({ id: app.id });
      return { firstCall, p50: times[Math.floor(times.length / 2)], p99: times[Math.floor(times.length * 0.99)] };
    },
    [APP, calls],
  );
}

/** Raw and gzip -9 bytes of the dist/ files the URLs name (what a static server sends). */
function bytesOf(urls) {
  let raw = 0;
  let gzip = 0;
  const files = new Set();
  for (const url of urls) {
    const path = new URL(url).pathname;
    if (!path.startsWith("/dist/")) continue;
    files.add(join(REPO, "dist", path.slice("/dist/".length)));
  }
  for (const file of files) {
    raw += statSync(file).size;
    gzip += gzipSync(readFileSync(file), { level: 9 }).length;
  }
  return { files: files.size, raw, gzip };
}

const server = await startServer();
const cold = [];
const warm = [];
const p50 = [];
const p99 = [];
let downloads = null;
try {
  for (let round = 0; round < ROUNDS; round++) {
    const browser = await launchBrowser(server.origin, { extraArgs: OFFLINE });
    try {
      const first = await offlineTab(browser);
      const before = new Set(first.requests);
      const c = await loadAndCall(first, CALLS);
      cold.push(c.firstCall);
      p50.push(c.p50);
      p99.push(c.p99);
      if (!downloads) downloads = bytesOf(first.requests.filter((url) => !before.has(url)));
      await first.close();
      const second = await offlineTab(browser);
      warm.push((await loadAndCall(second, 10)).firstCall);
      await second.close();
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.close();
}

const manifest = JSON.parse(readFileSync(join(REPO, "dist", "web-python", "manifest.json"), "utf8"));
const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;
console.log(`web-python in Chromium, offline: Pyodide ${manifest.pyodide.version}, ${ROUNDS} rounds, medians`);
console.log("");
console.log("| metric | value | aim |");
console.log("|---|---|---|");
console.log(`| loadApp → first answered call, cold | ${median(cold).toFixed(2)} s (${cold.map((s) => s.toFixed(2)).join(", ")}) | < 5 s |`);
console.log(`| loadApp → first answered call, warm HTTP cache | ${median(warm).toFixed(2)} s (${warm.map((s) => s.toFixed(2)).join(", ")}) | < 2 s |`);
console.log(`| JS → Python call round trip (${CALLS} calls): p50 | ${median(p50).toFixed(3)} ms | — |`);
console.log(`| JS → Python call round trip: p99 | ${median(p99).toFixed(3)} ms | — |`);
console.log(`| downloaded by the first Python app (${downloads.files} files) | ${mb(downloads.raw)} raw, ${mb(downloads.gzip)} gzip -9 | — |`);
