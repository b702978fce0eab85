#!/usr/bin/env node
// Browser benchmark: ours (dist/hypha-core.mjs + .wasm) vs hypha-core@0.20.86, side by side, in
// the same Chromium run. Prints a Markdown table and writes bench/browser/results.json.
//
//   node bench/browser/run.mjs [--only ours|reference] [--quick] [--dist DIR] [--rounds N]
//                              [--out FILE] [--verbose]
//
// --quick      reduced counts (CI smoke test; numbers are rough)
// --dist DIR   our build (default ./dist)
// --rounds N   measure each implementation N times, alternating which goes first; the table
//              shows the median of the rounds (default 1)
// --out FILE   JSON results (default bench/browser/results.json)
// --verbose    per-file download sizes and the browser console
//
// BENCH_STEP_TIMEOUT_MS overrides the time limit of each measurement (120 s; 30 s with --quick).
//
// Env: CHROMIUM_BIN (default /usr/bin/chromium), HYPHA_CORE_REF_DIR (an unpacked hypha-core
// package; default ~/.cache/hypha-core-tools/hypha-core-0.20.86/package, fetched with
// `npm pack` when missing).
//
// Each implementation gets a fresh browser context (own cache and heap) and page. bench.mjs does
// the measuring in the page; see bench/README.md ("Browser benchmark") for what each row means.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import {
  HERE,
  REF_VERSION,
  REPO,
  ensureReference,
  launchChromium,
  median,
  openPage,
  reason,
  startServer,
  withTimeout,
} from "./lib.mjs";

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const opts = { only: null, quick: false, dist: join(REPO, "dist"), rounds: 1, out: join(HERE, "results.json"), verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].includes("=") ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const value = () => {
      const v = inline !== undefined ? inline : argv[++i];
      if (v === undefined) usage(`${name} needs a value`);
      return v;
    };
    if (name === "--only") opts.only = value();
    else if (name === "--quick") opts.quick = true;
    else if (name === "--dist") opts.dist = resolve(value());
    else if (name === "--rounds") opts.rounds = Number(value());
    else if (name === "--out") opts.out = resolve(value());
    else if (name === "--verbose" || name === "-v") opts.verbose = true;
    else if (name === "--help" || name === "-h") usage();
    else usage(`unknown argument ${argv[i]}`);
  }
  if (opts.only !== null && opts.only !== "ours" && opts.only !== "reference") usage("--only takes ours or reference");
  if (!Number.isInteger(opts.rounds) || opts.rounds < 1) usage("--rounds takes a positive integer");
  return opts;
}

function usage(error) {
  const text =
    "usage: node bench/browser/run.mjs [--only ours|reference] [--quick] [--dist DIR] [--rounds N] [--out FILE] [--verbose]";
  if (error) {
    console.error(`run.mjs: ${error}\n${text}`);
    process.exit(2);
  }
  console.log(text);
  process.exit(0);
}

/** Counts and time limits; --quick keeps the smoke test well under 20 s. */
function plan(quick) {
  return quick
    ? {
        startups: 1,
        small: { warm: 20, n: 200, total: 2000, maxMs: 400 },
        big: { warm: 3, n: 30, total: 200, maxMs: 400 },
        mounts: 2,
        loads: 2,
        heapCalls: 1000,
        raw: { warm: 20, n: 200, total: 2000, maxMs: 300 },
        stepTimeoutMs: Number(process.env.BENCH_STEP_TIMEOUT_MS) || 30_000,
      }
    : {
        startups: 5,
        small: { warm: 300, n: 3000, total: 30000, maxMs: 3000 },
        big: { warm: 30, n: 300, total: 3000, maxMs: 3000 },
        mounts: 10,
        loads: 10,
        heapCalls: 10_000,
        raw: { warm: 300, n: 3000, total: 60000, maxMs: 2000 },
        stepTimeoutMs: 120_000,
      };
}

// ------------------------------------------------------------------ helpers

/** Median of each numeric field of `runs` (objects with the same keys). */
function medianOf(runs) {
  const out = { runs };
  for (const key of Object.keys(runs[0] || {})) {
    if (typeof runs[0][key] === "number") out[key] = median(runs.map((r) => r[key]));
  }
  return out;
}

const MiB = 1024 * 1024;

// ------------------------------------------------------------------ one implementation

/** gzip -9 size of every file the page fetched, by category. */
function downloads(responses, blocked, server, origin, impl) {
  const files = new Map();
  for (const { url, status } of responses) {
    if (!url.startsWith(origin + "/")) continue;
    const path = new URL(url).pathname;
    if (files.has(path)) continue;
    const file = server.lookup(path);
    if (!file || !existsSync(file)) continue;
    const bytes = readFileSync(file);
    const category = path.startsWith("/bench/") ? "harness" : path.startsWith("/vendor/") ? "worker-side hypha-rpc" : impl;
    files.set(path, { path, status, category, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
  }
  const list = [...files.values()];
  const sum = (cat, k) => list.filter((f) => f.category === cat).reduce((s, f) => s + f[k], 0);
  return {
    files: list,
    gzip: sum(impl, "gzip"),
    bytes: sum(impl, "bytes"),
    workerSideGzip: sum("worker-side hypha-rpc", "gzip"),
    blocked: [...new Set(blocked)],
  };
}

async function measure(browser, server, impl, opts) {
  const P = plan(opts.quick);
  const { origin } = server;
  const moduleUrl = `${origin}/${impl === "ours" ? "ours" : "ref"}/hypha-core.mjs`;
  const echoWorker = `${origin}/bench/echo-worker.js`;
  const result = { impl, moduleUrl };
  const log = (msg) => console.error(`[bench] ${impl}: ${msg}`);

  const { context, page, responses, blocked } = await openPage(browser, origin, opts, impl);
  const call = (fn, ...args) =>
    withTimeout(
      page.evaluate(([fn, args]) => window.bench[fn](...args), [fn, args]),
      P.stepTimeoutMs,
      fn,
    );
  /** Runs `fn`; a failure is recorded as `{error}` (and fails the keys that depend on it). */
  const step = async (key, fn) => {
    try {
      result[key] = await fn();
    } catch (error) {
      result[key] = { error: reason(error) };
      log(`${key} fails: ${result[key].error}`);
    }
    return result[key];
  };
  const startups = [];
  try {
    result.environment = await page.evaluate(() => window.bench.environment());
    log("start");
    const first = await step("startFirst", () => call("start", moduleUrl));
    if (!first.error) startups.push(first);
    const failed = (key) => result[key] && result[key].error;
    const after = async (dep, key, fn) => {
      if (failed(dep)) result[key] = { error: result[dep].error };
      else await step(key, fn);
    };

    log("in-tab calls");
    await after("startFirst", "inTabSetup", () => call("setupInTab"));
    await after("inTabSetup", "inTabSmallSeq", () => call("latency", "inTab", "small", P.small.warm, P.small.n));
    await after("inTabSetup", "inTabSmallFlight", () => call("throughput", "inTab", "small", P.small.total, P.small.maxMs));
    await after("inTabSetup", "inTabBigSeq", () => call("latency", "inTab", "big", P.big.warm, P.big.n));
    await after("inTabSetup", "inTabBigFlight", () => call("throughput", "inTab", "big", P.big.total, P.big.maxMs));

    log("heap");
    await after("inTabSetup", "heap", async () => {
      const cdp = await context.newCDPSession(page);
      const usage = async () => {
        await cdp.send("HeapProfiler.collectGarbage");
        await cdp.send("HeapProfiler.collectGarbage");
        return (await cdp.send("Runtime.getHeapUsage")).usedSize;
      };
      await call("callMany", Math.ceil(P.heapCalls / 10)); // warm: lazily built caches are not growth
      const before = await usage();
      const run = await call("callMany", P.heapCalls);
      const afterGc = await usage();
      await cdp.detach();
      return {
        calls: P.heapCalls,
        beforeMiB: before / MiB,
        afterMiB: afterGc / MiB,
        growthMiB: (afterGc - before) / MiB,
        bytesPerCall: (afterGc - before) / P.heapCalls,
        callsMs: run.ms,
      };
    });

    log("worker calls");
    await after("startFirst", "workerSetup", () => call("setupWorker", echoWorker));
    await after("workerSetup", "workerSmallSeq", () => call("latency", "worker", "small", P.small.warm, P.small.n));
    await after("workerSetup", "workerSmallFlight", () => call("throughput", "worker", "small", P.small.total, P.small.maxMs));
    await after("workerSetup", "workerBigSeq", () => call("latency", "worker", "big", P.big.warm, P.big.n));
    await after("workerSetup", "workerBigFlight", () => call("throughput", "worker", "big", P.big.total, P.big.maxMs));

    log(`mountWorker ×${P.mounts}`);
    await after("startFirst", "mount", async () => {
      const runs = [];
      for (let i = 0; i < P.mounts; i++) runs.push(await call("mount", echoWorker));
      return medianOf(runs);
    });
    log(`loadApp ×${P.loads}`);
    await after("startFirst", "loadApp", async () => {
      const runs = [];
      for (let i = 0; i < P.loads; i++) runs.push(await call("loadApp", echoWorker));
      return medianOf(runs);
    });

    log("raw worker baseline");
    await step("rawSetup", () => call("setupRaw", `${origin}/bench/raw-worker.js`).then(() => ({})));
    await after("rawSetup", "rawSmallSeq", () => call("latency", "raw", "small", P.raw.warm, P.raw.n));
    await after("rawSetup", "rawSmallFlight", () => call("throughput", "raw", "small", P.raw.total, P.raw.maxMs));
    await after("rawSetup", "rawBigSeq", () => call("latency", "raw", "big", P.big.warm, P.big.n));
    await after("rawSetup", "rawBigFlight", () => call("throughput", "raw", "big", P.big.total, P.big.maxMs));
    await step("rawBoot", async () => {
      const runs = [];
      for (let i = 0; i < P.mounts; i++) runs.push(await call("workerBoot", `${origin}/bench/raw-worker.js?rpc`));
      return medianOf(runs);
    });
    await page.evaluate(() => window.bench.cleanupWorkers()).catch(() => {});
    result.downloads = downloads(responses, blocked, server, origin, impl);
    // Last, so that what plugins load on demand (the parser, the app template and its hypha-rpc)
    // is not counted in what a page downloads to run the server.
    log(`loadApp plugin ×${P.loads}`);
    await after("startFirst", "loadPlugin", async () => {
      const runs = [];
      for (let i = 0; i < P.loads; i++) runs.push(await call("loadPlugin"));
      return medianOf(runs);
    });
    result.consoleErrors = page.logs.filter((l) => /^\[(error|pageerror)\]/.test(l)).slice(0, 20);
  } finally {
    await context.close().catch(() => {});
  }

  // More cold starts, each in its own fresh context, for a median.
  for (let i = 1; i < P.startups; i++) {
    const fresh = await openPage(browser, origin, { ...opts, verbose: false }, impl);
    try {
      startups.push(await withTimeout(fresh.page.evaluate((u) => window.bench.start(u), moduleUrl), P.stepTimeoutMs, "start"));
    } catch (error) {
      log(`extra start fails: ${reason(error)}`);
    } finally {
      await fresh.context.close().catch(() => {});
    }
  }
  result.startup = startups.length ? medianOf(startups) : { error: result.startFirst.error };

  // As many cold starts again, each carried on until a second client's first call is answered.
  const readies = [];
  let readyError = null;
  for (let i = 0; i < P.startups; i++) {
    const fresh = await openPage(browser, origin, { ...opts, verbose: false }, impl);
    try {
      readies.push(await withTimeout(fresh.page.evaluate((u) => window.bench.startAndServe(u), moduleUrl), P.stepTimeoutMs, "startAndServe"));
    } catch (error) {
      readyError = reason(error);
      log(`start and serve fails: ${readyError}`);
    } finally {
      await fresh.context.close().catch(() => {});
    }
  }
  result.ready = readies.length ? medianOf(readies) : { error: readyError };
  return result;
}

// ------------------------------------------------------------------ table

const fmtMs = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3)) + " ms";
const fmtRate = (v) => `${Math.round(v).toLocaleString("en-US")}/s`;
const fmtMiB = (v) => `${v >= 0 ? "+" : ""}${v.toFixed(2)} MiB`;
const fmtKB = (v) => `${(v / 1000).toFixed(1)} KB`;

/** Table rows: label, value getter (from one implementation's result), format, aim. */
function rows(P) {
  const ms = (key, field) => (r) => r[key] && (r[key].error ? r[key] : r[key][field]);
  const lt = (limit) => (v) => v < limit;
  return [
    // Issue 13's aims: cold start no slower than the reference's, ≥ 20,000 calls/s in-tab and
    // ≥ 15,000/s to a worker with 32 in flight, at most 100,000 bytes gzip -9 downloaded.
    { label: "start: import() + new HyphaCore() + start() (median of " + P.startups + " cold)", get: ms("startup", "totalMs"), fmt: fmtMs, aim: "≤ the reference's", okAgainstReference: (v, ref) => v <= ref },
    { label: "start, then root registers a service and a second client's first call to it is answered (median of " + P.startups + " cold)", get: ms("ready", "readyMs"), fmt: fmtMs, aim: "—" },
    { label: "in-tab echo, small: p50", get: ms("inTabSmallSeq", "p50"), fmt: fmtMs, aim: "< 0.5 ms", ok: lt(0.5) },
    { label: "in-tab echo, small: p99", get: ms("inTabSmallSeq", "p99"), fmt: fmtMs, aim: "—" },
    { label: "in-tab echo, small: 32 in flight", get: ms("inTabSmallFlight", "callsPerS"), fmt: fmtRate, aim: "≥ 20,000/s", ok: (v) => v >= 20000 },
    { label: "in-tab echo, 100 KiB: p50", get: ms("inTabBigSeq", "p50"), fmt: fmtMs, aim: "< 2 ms", ok: lt(2) },
    { label: "in-tab echo, 100 KiB: p99", get: ms("inTabBigSeq", "p99"), fmt: fmtMs, aim: "—" },
    { label: "in-tab echo, 100 KiB: 32 in flight", get: ms("inTabBigFlight", "callsPerS"), fmt: fmtRate, aim: "—" },
    { label: "worker echo, small: p50", get: ms("workerSmallSeq", "p50"), fmt: fmtMs, aim: "< 0.5 ms", ok: lt(0.5) },
    { label: "worker echo, small: p99", get: ms("workerSmallSeq", "p99"), fmt: fmtMs, aim: "—" },
    { label: "worker echo, small: 32 in flight", get: ms("workerSmallFlight", "callsPerS"), fmt: fmtRate, aim: "≥ 15,000/s", ok: (v) => v >= 15000 },
    { label: "worker echo, 100 KiB: p50", get: ms("workerBigSeq", "p50"), fmt: fmtMs, aim: "< 2 ms", ok: lt(2) },
    { label: "worker echo, 100 KiB: 32 in flight", get: ms("workerBigFlight", "callsPerS"), fmt: fmtRate, aim: "—" },
    { label: `mountWorker: new Worker → resolved (median of ${P.mounts})`, get: ms("mount", "mountMs"), fmt: fmtMs, aim: "< 60 ms", ok: lt(60) },
    { label: `loadApp web-worker → first call answered (median of ${P.loads})`, get: ms("loadApp", "firstCallMs"), fmt: fmtMs, aim: "< 100 ms", ok: lt(100) },
    { label: `loadApp web-worker plugin (inline source, app template) → first call (median of ${P.loads}) ²`, get: ms("loadPlugin", "firstCallMs"), fmt: fmtMs, aim: "< 100 ms", ok: lt(100) },
    { label: `JS heap growth over ${P.heapCalls.toLocaleString("en-US")} in-tab calls, after GC`, get: ms("heap", "growthMiB"), fmt: fmtMiB, aim: "flat (< 1 MiB)", ok: (v) => Math.abs(v) < 1 },
    { label: "downloads of the implementation, gzip -9 ¹", get: ms("downloads", "gzip"), fmt: fmtKB, aim: "≤ 100.0 KB", ok: (v) => v <= 100_000 },
    { label: "baseline: bare worker postMessage, small: p50", get: ms("rawSmallSeq", "p50"), fmt: fmtMs, aim: "(floor)" },
    { label: "baseline: bare worker postMessage, small: 32 in flight", get: ms("rawSmallFlight", "callsPerS"), fmt: fmtRate, aim: "(ceiling)" },
    { label: "baseline: bare worker postMessage, 100 KiB: p50", get: ms("rawBigSeq", "p50"), fmt: fmtMs, aim: "(floor)" },
    { label: `baseline: new Worker + importScripts(hypha-rpc) → first message (median of ${P.mounts})`, get: ms("rawBoot", "bootMs"), fmt: fmtMs, aim: "(floor of mount)" },
  ];
}

/** One implementation's cell; `reference` (for ours) is the reference's result, for aims set against it. */
function cell(row, r, reference) {
  if (!r) return "not run";
  const v = row.get(r);
  if (v && typeof v === "object" && v.error) return `fails: ${v.error.replace(/\|/g, "\\|")}`;
  if (typeof v !== "number" || !Number.isFinite(v)) return "n/a";
  let ok = row.ok ? row.ok(v) : null;
  if (row.okAgainstReference && reference) {
    const refValue = row.get(reference);
    if (typeof refValue === "number" && Number.isFinite(refValue)) ok = row.okAgainstReference(v, refValue);
  }
  return row.fmt(v) + (ok === null ? "" : ok ? " ✓" : " ✗");
}

function table(merged, P, meta) {
  const cols = [`hypha-core ${REF_VERSION}`, "ours"];
  const lines = [`| metric | ${cols.join(" | ")} | aim |`, `|---|---|---|---|`];
  for (const row of rows(P)) {
    lines.push(`| ${row.label} | ${cell(row, merged.reference)} | ${cell(row, merged.ours, merged.reference)} | ${row.aim} |`);
  }
  const notes = [
    "",
    `Chromium ${meta.browserVersion}, headless, ${meta.cores} cores, load average ${meta.loadBefore} before / ${meta.loadAfter} after;` +
      ` ${meta.rounds} round(s)${meta.rounds > 1 ? " (median of rounds)" : ""}${meta.quick ? ", --quick" : ""};` +
      ` cross-origin isolated: ${meta.isolated}.`,
    "Small = a 16-character string; 100 KiB = a Uint8Array of random bytes. p50/p99 are of sequential calls; " +
      "\"32 in flight\" = 32 loops calling concurrently, completed ÷ elapsed. ✓/✗: meets the aim or not.",
    "In-tab: root API registers `bench` (visibility public), a `hc.connect()` client calls it. Worker: `bench/browser/echo-worker.js` " +
      "(hypha-rpc `setupLocalClient` + `api.export({echo})`), mounted with `hc.mountWorker`, called through the service it resolves with.",
    "Both implementations load the same local worker script: the reference's own web-worker template imports hypha-rpc from a CDN, " +
      "which is unreachable offline, so it is not used (loadApp is given the script URL with `type: \"web-worker\"`, which both run directly).",
    `¹ Every file the page fetched for the implementation (module, .wasm, anything they load), not the bench page, bench.mjs, the ` +
      `worker scripts, nor the hypha-rpc UMD bundle those workers import (${fmtKB(meta.workerSideGzip)} gzip, the same for both). ` +
      `hypha-core ${REF_VERSION}'s dist/hypha-core.mjs is the published webpack development build (eval source maps), as npm ships it.`,
    "² The plugin path: inline `<config>` + `<script>` source, run by the implementation's own web-worker template (ours loads its " +
      "parser and the template's hypha-rpc on first use, and they are cached after). The reference sends inline plugin source to " +
      "a window instead (its weak spot W11), so it cannot load it.",
  ];
  return lines.join("\n") + "\n" + notes.join("\n");
}

/** The median over rounds of every number in the per-round results of one implementation. */
function mergeRounds(list) {
  if (list.length === 1) return list[0];
  const merge = (values) => {
    const first = values.find((v) => v !== undefined);
    if (typeof first === "number") return median(values);
    if (first && typeof first === "object" && !Array.isArray(first)) {
      if (values.some((v) => v && v.error)) return values.find((v) => v && v.error);
      const out = {};
      for (const k of Object.keys(first)) out[k] = merge(values.map((v) => v && v[k]));
      return out;
    }
    return first;
  };
  return merge(list);
}

// ------------------------------------------------------------------ main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const impls = opts.only ? [opts.only] : ["reference", "ours"];
  const P = plan(opts.quick);
  for (const f of ["hypha-core.mjs", "hypha_core_bg.wasm"]) {
    if (impls.includes("ours") && !existsSync(join(opts.dist, f))) {
      throw new Error(`${join(opts.dist, f)} is missing: run \`npm run build\` (or pass --dist DIR)`);
    }
  }
  const rpcDist = join(REPO, "node_modules", "hypha-rpc", "dist");
  if (!existsSync(join(rpcDist, "hypha-rpc-websocket.min.js"))) throw new Error(`${rpcDist} is missing: run npm ci`);
  const refDir = impls.includes("reference") ? ensureReference() : null;

  const mounts = [
    ["/bench/", HERE],
    ["/vendor/hypha-rpc/", rpcDist],
    ["/ours/", opts.dist],
  ];
  if (refDir) mounts.push(["/ref/", join(refDir, "dist")]);
  const server = await startServer(mounts);
  // launch() runs Chromium on a fresh temporary profile; each implementation then gets its own
  // context (separate cache, storage and renderer process).
  const browser = await launchChromium();
  const loadBefore = loadavg()[0].toFixed(2);
  const perImpl = { reference: [], ours: [] };
  const started = Date.now();
  try {
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? impls : [...impls].reverse();
      for (const impl of order) perImpl[impl].push(await measure(browser, server, impl, opts));
    }
  } finally {
    await browser.close().catch(() => {});
    await server.close();
  }
  const merged = {};
  for (const impl of impls) merged[impl] = mergeRounds(perImpl[impl]);
  const any = merged.ours || merged.reference;
  const meta = {
    date: new Date().toISOString(),
    browserVersion: browser.version(),
    cores: cpus().length,
    loadBefore,
    loadAfter: loadavg()[0].toFixed(2),
    rounds: opts.rounds,
    quick: opts.quick,
    isolated: any.environment ? any.environment.crossOriginIsolated : "unknown",
    workerSideGzip: (any.downloads && any.downloads.workerSideGzip) || 0,
    seconds: (Date.now() - started) / 1000,
    dist: opts.dist,
    distSha256: impls.includes("ours")
      ? createHash("sha256").update(readFileSync(join(opts.dist, "hypha_core_bg.wasm"))).digest("hex").slice(0, 16)
      : null,
    plan: P,
  };
  console.log(table(merged, P, meta));
  if (opts.verbose) {
    for (const impl of impls) {
      const d = merged[impl].downloads;
      if (!d) continue;
      console.log(`\nDownloads, ${impl}:\n\n| file | category | bytes | gzip -9 |\n|---|---|---|---|`);
      for (const f of d.files) console.log(`| ${f.path} | ${f.category} | ${f.bytes} | ${f.gzip} |`);
      if (d.blocked.length) console.log(`blocked (not 127.0.0.1): ${d.blocked.join(", ")}`);
    }
  }
  for (const impl of impls) {
    const d = merged[impl].downloads;
    if (d && d.blocked.length) console.error(`[bench] ${impl} tried to fetch from outside 127.0.0.1 (refused): ${d.blocked.join(", ")}`);
  }
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify({ meta, results: merged, rounds: perImpl }, null, 2) + "\n");
  console.error(`[bench] ${meta.seconds.toFixed(1)} s; results in ${opts.out}`);
}

main().catch((error) => {
  console.error(`run.mjs: ${error.stack || error}`);
  process.exit(1);
});
