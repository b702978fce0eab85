// Smoke test of the browser benchmark (bench/browser/run.mjs): a --quick run of our build alone
// must produce every metric as a finite positive number, so the benchmark cannot silently rot.
// The numbers themselves are not checked (a loaded CI machine makes them meaningless).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { REPO } from "./harness.mjs";

const run = promisify(execFile);

/** Every number the table is made of: path in results.ours → field. */
const METRICS = [
  ["startup", "totalMs"],
  ["startup", "importMs"],
  ["startup", "startMs"],
  ["ready", "readyMs"],
  ["inTabSmallSeq", "p50"],
  ["inTabSmallSeq", "p99"],
  ["inTabSmallFlight", "callsPerS"],
  ["inTabBigSeq", "p50"],
  ["inTabBigSeq", "p99"],
  ["inTabBigFlight", "callsPerS"],
  ["workerSmallSeq", "p50"],
  ["workerSmallSeq", "p99"],
  ["workerSmallFlight", "callsPerS"],
  ["workerBigSeq", "p50"],
  ["workerBigFlight", "callsPerS"],
  ["mount", "mountMs"],
  ["loadApp", "firstCallMs"],
  ["heap", "beforeMiB"],
  ["heap", "afterMiB"],
  ["downloads", "gzip"],
  ["rawSmallSeq", "p50"],
  ["rawSmallFlight", "callsPerS"],
  ["rawBigSeq", "p50"],
  ["rawBoot", "bootMs"],
];

describe("browser benchmark", () => {
  it("bench/browser/run.mjs --quick --only ours measures every metric", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hypha-bench-smoke-"));
    const out = join(dir, "results.json");
    try {
      const { stdout } = await run(
        process.execPath,
        [join(REPO, "bench", "browser", "run.mjs"), "--quick", "--only", "ours", "--out", out],
        { cwd: REPO, timeout: 55_000, maxBuffer: 16 << 20 },
      );
      assert.match(stdout, /^\| metric \| hypha-core 0\.20\.86 \| ours \| aim \|$/m);
      const { results } = JSON.parse(readFileSync(out, "utf8"));
      const ours = results.ours;
      const bad = [];
      for (const [key, field] of METRICS) {
        const entry = ours[key];
        const value = entry && entry[field];
        if (entry && entry.error) bad.push(`${key}: fails: ${entry.error}`);
        else if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) bad.push(`${key}.${field} = ${value}`);
      }
      // Growth may be ≤ 0 after GC; it must still be a number.
      if (!Number.isFinite(ours.heap && ours.heap.growthMiB)) bad.push(`heap.growthMiB = ${ours.heap && ours.heap.growthMiB}`);
      assert.deepEqual(bad, [], `metrics that are not finite positive numbers:\n${bad.join("\n")}\n\n${stdout}`);
      assert.deepEqual(ours.downloads.blocked, [], "the page tried to fetch from outside 127.0.0.1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bench/browser/threads.mjs tells how busy the main thread and the worker's were", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, [join(REPO, "bench", "browser", "threads.mjs"), "--calls", "2000"], {
      cwd: REPO,
      timeout: 55_000,
    });
    assert.match(stdout, /^ours, worker echo, 32 in flight, traced: \d+ calls\/s \(2000 calls in \d+ ms of tasks\)$/m);
    const threads = [...stdout.matchAll(/^ {2}(\S.*?) +busy +([\d.]+) % +([\d.]+) µs\/call +(\d+) tasks$/gm)].map((m) => ({
      name: m[1],
      busy: Number(m[2]),
      perCall: Number(m[3]),
      tasks: Number(m[4]),
    }));
    assert.deepEqual(threads.map((t) => t.name.split(" ")[0]).sort(), ["CrRendererMain", "DedicatedWorker"], stdout);
    for (const t of threads) {
      // Every call is at least a task on the worker, and the main thread hears each answer.
      assert.ok(t.busy > 0 && t.busy <= 100, `${t.name} busy ${t.busy} %`);
      assert.ok(t.perCall > 0 && t.tasks >= 2000, `${t.name}: ${t.perCall} µs/call over ${t.tasks} tasks`);
    }
  });

  it("keeps the page offline: requests leaving 127.0.0.1 fail and are listed", { timeout: 30_000 }, async () => {
    const { launchChromium, openPage, startServer } = await import("../../../bench/browser/lib.mjs");
    const server = await startServer([["/bench/", join(REPO, "bench", "browser")]]);
    const browser = await launchChromium();
    try {
      const { page, blocked } = await openPage(browser, server.origin, { verbose: false }, "smoke");
      const outside = ["http://example.com/a.js", "http://203.0.113.7/b.wasm", "https://cdn.jsdelivr.net/npm/c"];
      const fromWorker = "http://198.51.100.9/d";
      const outcomes = await page.evaluate(
        async ([urls, workerUrl]) => {
          const tryFetch = (u) => fetch(u, { mode: "no-cors" }).then(() => "fetched", () => "failed");
          const results = [];
          for (const u of urls) results.push(await tryFetch(u));
          const source = `fetch(${JSON.stringify(workerUrl)}, {mode: "no-cors"}).then(() => postMessage("fetched"), () => postMessage("failed"))`;
          const worker = new Worker(URL.createObjectURL(new Blob([source])));
          results.push(await new Promise((resolve) => (worker.onmessage = (e) => resolve(e.data))));
          results.push((await fetch("/bench/index.html")).status);
          return results;
        },
        [outside, fromWorker],
      );
      assert.deepEqual(outcomes, ["failed", "failed", "failed", "failed", 200]);
      // The worker's failure may be reported just after its message.
      for (let i = 0; i < 50 && blocked.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual([...new Set(blocked)].sort(), [...outside, fromWorker].sort());
      // Refused by the harness's proxy, not merely unreachable from this machine.
      for (const url of [...outside, fromWorker]) {
        const host = new URL(url).hostname;
        assert.ok(
          browser.refusedByProxy.some((line) => line.includes(host)),
          `the proxy never saw ${host}: ${JSON.stringify(browser.refusedByProxy)}`,
        );
      }
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
