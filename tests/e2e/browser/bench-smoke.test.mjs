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
});
