// The server-mode benchmark's driver (started by bench/server-mode.sh, which fetches, installs and
// prepares what it needs and passes the paths). hypha-core 0.20.86's own test/performance/
// scripts start their HyphaCore server in-process (port 9640) and load it with fetch from the
// same Deno process; each script runs once per target, one at a time:
//
//   ref          hypha-core 0.20.86's src under Deno: the scripts as published, byte for byte
//   ours         hypha-core-rs from the packed tarball: the two import lines rewritten
//   ours-public  the same, HyphaCore from ours-public.mjs (services public, no rate limit)
//   bare         the same scripts against bare-server.mjs: a bare Deno.serve handler that only
//                calls the function, the most any server can do in this harness
//
// While a script runs, this driver asks its server each endpoint once (plain fetch from Node)
// and compares the answer with the right one, reads the script's printed requests/s and latency
// per scenario, and the Deno process's CPU time from /proc. Prints Markdown tables and writes
// the JSON. Nothing is asserted: a wrong answer or a missing number is a cell, not a failure.
//
// Usage: node bench/server-mode/run.mjs --deno PATH --ref-dir DIR --ours-dir DIR [--bare-dir DIR]
//          [--targets ref,ours,ours-public,bare] [--scripts quick-max-test,single-instance-benchmark]
//          [--budget SECONDS] [--out FILE] [--logdir DIR]
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const PORT = 9640; // the scripts' own
const BASE = `http://127.0.0.1:${PORT}`;

// ------------------------------------------------------------------ options

const TARGETS = {
  ref: { label: "hypha-core 0.20.86" },
  ours: { label: "ours" },
  "ours-public": { label: "ours (public)" },
  bare: { label: "bare Deno.serve" },
};

function parseArgs(argv) {
  const o = {
    targets: Object.keys(TARGETS),
    scripts: ["quick-max-test", "single-instance-benchmark"],
    budget: 50,
    out: join(REPO, "bench", "server-mode-results.json"),
    logdir: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--deno": o.deno = resolve(val()); break;
      case "--ref-dir": o.refDir = resolve(val()); break;
      case "--ours-dir": o.oursDir = resolve(val()); break;
      case "--bare-dir": o.bareDir = resolve(val()); break;
      case "--targets": o.targets = val().split(",").filter(Boolean); break;
      case "--scripts": o.scripts = val().split(",").filter(Boolean); break;
      case "--budget": o.budget = Number(val()); break;
      case "--out": o.out = resolve(val()); break;
      case "--logdir": o.logdir = resolve(val()); break;
      case "--meta": o.meta = JSON.parse(val()); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  for (const k of ["deno", "refDir", "oursDir"]) if (!o[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} is required`);
  for (const t of o.targets) if (!TARGETS[t]) throw new Error(`--targets: unknown target ${t}`);
  if (o.targets.includes("bare") && !o.bareDir) throw new Error("--targets bare needs --bare-dir");
  for (const s of o.scripts) if (!SCRIPTS[s]) throw new Error(`--scripts: unknown script ${s}`);
  if (!(o.budget > 0)) throw new Error("--budget must be a positive number of seconds");
  return o;
}

// ------------------------------------------------------------------ the scripts

// What each script prints, and the endpoints it loads with the right answer for each. An
// endpoint path that is no longer in the script's source is reported (the table would be stale).
const SCRIPTS = {
  "quick-max-test": {
    ready: /✅ Server ready on/,
    done: /^✅ Server closed/m,
    endpoints: [
      {
        name: "Math Multiply",
        path: "/default/services/stress-test-service/math.multiply?a=9&b=22",
        right: '{"result": 198}',
        check: (v) => isDeepStrictEqual(v, { result: 198 }),
      },
    ],
    parse: parseQuickMax,
  },
  "single-instance-benchmark": {
    ready: /✅ Benchmark service registered/,
    done: /✅ Single instance server closed/,
    endpoints: [
      {
        name: "Math Multiply",
        path: "/default/services/benchmark-service/math.multiply?a=9&b=22",
        right: '{"result": 198}',
        check: (v) => isDeepStrictEqual(v, { result: 198 }),
      },
      {
        name: "Math Add",
        path: "/default/services/benchmark-service/math.add?a=15&b=30",
        right: '{"result": 45}',
        check: (v) => isDeepStrictEqual(v, { result: 45 }),
      },
      {
        name: "String Upper",
        path: "/default/services/benchmark-service/string.upper?s=performance",
        right: '{"result": "PERFORMANCE"}',
        check: (v) => isDeepStrictEqual(v, { result: "PERFORMANCE" }),
      },
      {
        name: "Echo",
        path: "/default/services/benchmark-service/echo?message=benchmark",
        right: '{"message": "benchmark", "timestamp": <number>}',
        check: (v) => isObj(v) && v.message === "benchmark" && typeof v.timestamp === "number" && Object.keys(v).length === 2,
      },
      {
        name: "Status",
        path: "/default/services/benchmark-service/status",
        right: '{"status": "ok", "server": "single-instance", "timestamp": <number>}',
        check: (v) =>
          isObj(v) && v.status === "ok" && v.server === "single-instance" && typeof v.timestamp === "number" && Object.keys(v).length === 3,
      },
    ],
    parse: parseSingleInstance,
  },
};

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// 🔥 Burst 1: 1,000 requests, 50 concurrent / 📊 1000 requests in 1291.8ms / 🚀 774 req/sec /
// ✅ Success rate: 100.00% / ⏱️  Avg: 1.23ms, Min: 0.50ms, Max: 9.00ms
function parseQuickMax(lines) {
  const rows = [];
  let cur = null;
  for (const line of lines) {
    let m;
    if ((m = line.match(/^🔥 (Burst \d+): ([\d,]+) requests, (\d+) concurrent/))) {
      cur = { scenario: m[1], requests: Number(m[2].replace(/,/g, "")), concurrency: Number(m[3]), endpoint: "Math Multiply" };
    } else if (!cur) {
      continue;
    } else if ((m = line.match(/📊 (\d+) requests in ([\d.]+)ms/))) {
      cur.duration_ms = Number(m[2]);
    } else if ((m = line.match(/🚀 ([\d.]+) req\/sec/))) {
      cur.rps = Number(m[1]);
    } else if ((m = line.match(/Success rate: ([\d.]+)%/))) {
      cur.success_pct = Number(m[1]);
    } else if ((m = line.match(/Avg: ([\d.]+)ms, Min: ([\d.]+)ms, Max: ([\d.]+)ms/))) {
      Object.assign(cur, { avg_ms: Number(m[1]), min_ms: Number(m[2]), max_ms: Number(m[3]) });
      rows.push(cur);
      cur = null;
    }
  }
  return rows;
}

// 🧪 Light Load: 1K requests, 10 concurrent / 🎯 Testing: Math Multiply /
// 📊 774 req/sec (100.0% success) / ⏱️  1.23ms avg, 0.50ms min, 9.00ms max
function parseSingleInstance(lines) {
  const rows = [];
  let scenario = null;
  let endpoint = null;
  let rps = null;
  for (const line of lines) {
    let m;
    if ((m = line.match(/^🧪 (.+?): ((\d+)K requests, (\d+) concurrent)/))) {
      scenario = { scenario: m[1], requests: Number(m[3]) * 1000, concurrency: Number(m[4]) };
    } else if (scenario && (m = line.match(/^🎯 Testing: (.+)$/))) {
      endpoint = m[1].trim();
    } else if (endpoint && (m = line.match(/📊 ([\d.]+) req\/sec \(([\d.]+)% success\)/))) {
      rps = { rps: Number(m[1]), success_pct: Number(m[2]) };
    } else if (rps && (m = line.match(/([\d.]+)ms avg, ([\d.]+)ms min, ([\d.]+)ms max/))) {
      rows.push({ ...scenario, endpoint, ...rps, avg_ms: Number(m[1]), min_ms: Number(m[2]), max_ms: Number(m[3]) });
      endpoint = null;
      rps = null;
    }
  }
  return rows;
}

/** The scenarios a script would run (for "not reached" cells): from its own source. */
function plannedScenarios(script, source) {
  if (script === "quick-max-test") {
    return [...source.matchAll(/name: '(Burst \d+): [^']*', total: (\d+), concurrency: (\d+)/g)].map((m) => ({
      scenario: m[1],
      requests: Number(m[2]),
      concurrency: Number(m[3]),
      endpoints: ["Math Multiply"],
    }));
  }
  const endpoints = [...source.matchAll(/path: '[^']*', name: '([^']+)'/g)].map((m) => m[1]);
  return [...source.matchAll(/name: '([^']+)', requests: (\d+), concurrency: (\d+)/g)].map((m) => ({
    scenario: m[1],
    requests: Number(m[2]),
    concurrency: Number(m[3]),
    endpoints,
  }));
}

// ------------------------------------------------------------------ processes

const O = parseArgs(process.argv.slice(2));
const LOGDIR = O.logdir || mkdtempSync(join(tmpdir(), "hypha-server-mode-bench."));
mkdirSync(LOGDIR, { recursive: true });
const say = (...a) => console.error("[server-mode-bench]", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let current = null; // the running deno child
const killChild = (child, signal) => {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // its own process group
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
};
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killChild(current, "SIGKILL");
    process.exit(130);
  });
}

function portOpen(port) {
  return new Promise((res) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      res(true);
    });
    s.once("error", () => res(false));
    s.setTimeout(1000, () => {
      s.destroy();
      res(false);
    });
  });
}

/** utime + stime of `pid` (all its threads) in seconds, or null. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14, 15 (USER_HZ = 100)
  } catch {
    return null;
  }
}

/** Busy jiffies of the whole machine (all cores), from /proc/stat. */
function machineBusy() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] || 0);
    return { busy: f.reduce((a, b) => a + b, 0) - idle };
  } catch {
    return null;
  }
}

/** Ask the running server each endpoint once; the answer and whether it is the right one. */
async function probe(endpoints) {
  const out = {};
  for (const e of endpoints) {
    const t0 = performance.now();
    try {
      const r = await fetch(BASE + e.path, { signal: AbortSignal.timeout(10000) });
      const text = await r.text();
      let value;
      let json = true;
      try {
        value = JSON.parse(text);
      } catch {
        json = false;
      }
      out[e.name] = {
        status: r.status,
        body: text.length > 300 ? text.slice(0, 300) + "…" : text,
        right: r.status === 200 && json && e.check(value),
        ms: +(performance.now() - t0).toFixed(2),
      };
    } catch (err) {
      out[e.name] = { status: null, body: String(err && err.message), right: false };
    }
  }
  return out;
}

/** Run one script for one target; resolves with its parsed rows, probes and process numbers. */
async function runOne(script, target) {
  const spec = SCRIPTS[script];
  const file =
    target === "ref"
      ? join(O.refDir, "test", "performance", `${script}.js`)
      : target === "bare"
        ? join(O.bareDir, `${script}.js`)
        : join(O.oursDir, target === "ours" ? `${script}.js` : `${script}.public.js`);
  const cwd = target === "ref" ? O.refDir : target === "bare" ? O.bareDir : O.oursDir;
  const args = ["run", "--allow-net", "--allow-read", "--allow-env", "--no-lock"];
  if (target === "ref") args.push("--config", join(O.refDir, "deno.json"));
  args.push(file);
  const log = join(LOGDIR, `${script}.${target}.log`);
  const result = { script, target, file, command: [O.deno, ...args].join(" "), log, rows: [], probes: null, notes: [] };

  // the scripts listen on 9640 themselves: wait (bounded) for anything else there to go
  for (let i = 0; i < 20 && (await portOpen(PORT)); i++) await sleep(500);
  if (await portOpen(PORT)) {
    result.na = `port ${PORT} is in use by another process`;
    return result;
  }

  const fd = openSync(log, "w");
  const t0 = performance.now();
  const load0 = loadavg()[0];
  const child = spawn(O.deno, args, { cwd, stdio: ["ignore", fd, fd], detached: true, env: { ...process.env, NO_COLOR: "1" } });
  closeSync(fd);
  current = child;
  let exited = false;
  child.once("exit", () => (exited = true));

  // follow the log (the reference prints a debug line or two per request: read in slices)
  const rfd = openSync(log, "r");
  let offset = 0;
  let partial = "";
  const lines = [];
  const buf = Buffer.alloc(1 << 20);
  const follow = () => {
    for (;;) {
      const n = readSync(rfd, buf, 0, buf.length, offset);
      if (n <= 0) break;
      offset += n;
      const parts = (partial + buf.toString("utf8", 0, n)).split("\n");
      partial = parts.pop();
      // keep only the script's own lines (not the reference's per-request debug output)
      for (const l of parts) if (/[🔥📊🚀✅⏱🧪🎯❌📈]/u.test(l) || /req\/sec|Avg:|ms avg/.test(l)) lines.push(l);
    }
  };
  const seen = (re) => lines.some((l) => re.test(l));

  let readyAt = null;
  let cpuReady = null;
  let busyReady = null;
  let end = "exited";
  // the process's CPU time when each result line appears (polled every 100 ms): per result, the
  // CPU the script's client and server spent on it, which machine load changes less than req/s
  const cpuMarks = [];
  for (;;) {
    await sleep(100);
    follow();
    if (readyAt === null && seen(spec.ready)) {
      readyAt = performance.now();
      cpuReady = cpuSeconds(child.pid);
      busyReady = machineBusy();
      result.probes = await probe(spec.endpoints);
    }
    if (readyAt !== null) {
      const n = spec.parse(lines).length;
      while (cpuMarks.length < n) cpuMarks.push(cpuSeconds(child.pid));
    }
    if (seen(spec.done)) {
      end = "done";
      break;
    }
    if (exited) break;
    if (seen(/❌ (Test|Benchmark) failed/)) {
      end = "failed";
      break;
    }
    if (readyAt === null && performance.now() - t0 > 60000) {
      end = "not ready in 60 s";
      break;
    }
    if (readyAt !== null && performance.now() - readyAt > O.budget * 1000) {
      end = `stopped at the ${O.budget} s budget`;
      break;
    }
  }
  follow();
  if (readyAt !== null) {
    const n = spec.parse(lines).length;
    while (cpuMarks.length < n) cpuMarks.push(cpuSeconds(child.pid));
  }
  const cpuEnd = cpuSeconds(child.pid);
  const busyEnd = machineBusy();
  const wall = (performance.now() - (readyAt ?? t0)) / 1000;
  // hypha-core 0.20.86's process does not exit after hyphaCore.close(): give it 2 s, then stop it
  // (at once when the budget or a failure ended the run: nothing more is counted)
  for (let i = 0; end === "done" && i < 10 && !exited; i++) await sleep(200);
  if (!exited) {
    killChild(child, "SIGTERM");
    for (let i = 0; i < 10 && !exited; i++) await sleep(200);
    if (!exited) killChild(child, "SIGKILL");
    if (end === "done") result.notes.push("did not exit by itself after closing its server (stopped by the driver)");
  }
  for (let i = 0; i < 25 && !exited; i++) await sleep(200);
  current = null;
  if (end === "done") {
    follow();
    if (partial) lines.push(partial);
  }
  closeSync(rfd);

  result.end = end;
  result.rows = spec.parse(lines);
  result.rows.forEach((row, i) => {
    const from = i === 0 ? cpuReady : cpuMarks[i - 1];
    const to = cpuMarks[i];
    if (from === null || from === undefined || to === null || to === undefined) return;
    row.cpu_s = +(to - from).toFixed(2);
    row.cpu_us_per_req = Math.round((1e6 * (to - from)) / row.requests);
  });
  result.wall_s = +wall.toFixed(2);
  result.load1_before = +load0.toFixed(2);
  result.load1_after = +loadavg()[0].toFixed(2);
  if (cpuReady !== null && cpuEnd !== null) {
    // the script's client (fetch) and its server share this one process
    result.process_cpu_s = +(cpuEnd - cpuReady).toFixed(2);
    result.process_cpu_pct = +((100 * (cpuEnd - cpuReady)) / wall).toFixed(0);
  }
  if (busyReady && busyEnd) {
    const others = (busyEnd.busy - busyReady.busy) / 100 - (result.process_cpu_s ?? 0);
    result.other_cpu_pct = +((100 * others) / wall).toFixed(0); // % of one core, summed over cores
  }
  if (readyAt === null) result.na = end === "exited" ? "exited before its server was ready" : end;
  if (end === "failed") result.notes.push(lines.filter((l) => /❌ (Test|Benchmark) failed/.test(l)).join(" ").slice(0, 300));
  return result;
}

// ------------------------------------------------------------------ tables

const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? "—" : v.toFixed(d));
const fmtRps = (row) => (row ? fmt(row.rps) : "not reached");
const fmtLat = (row) => (!row ? "—" : row.success_pct > 0 ? fmt(row.avg_ms, 1) : "— (no 200)");
const mark = (probe) => (!probe ? "?" : probe.right ? "✓" : `✗ ${probe.status ?? "error"}`);

function ratio(a, b) {
  if (!a || !b || !(a.rps > 0) || !(b.rps > 0)) return "—";
  // a target that answered nothing with 200 was measured on its refusals: say so
  return `${(b.rps / a.rps).toFixed(2)}×${b.success_pct === 0 ? " (no 200)" : ""}`;
}

function tables(results, planned) {
  const targets = O.targets;
  const label = (t) => TARGETS[t].label;
  const find = (script, target) => results.find((r) => r.script === script && r.target === target);
  // The servers read against the bare handler too: the share of what the harness allows.
  const againstBare = targets.includes("bare") ? targets.filter((t) => t !== "ref" && t !== "bare") : [];
  const out = [];

  // 1. per scenario and endpoint
  const head = ["script", "scenario", "endpoint"];
  for (const t of targets) head.push(`${label(t)} req/s`);
  for (const t of targets.filter((t) => t !== "ref")) if (targets.includes("ref")) head.push(`${label(t)} ÷ ref`);
  for (const t of againstBare) head.push(`${label(t)} ÷ bare`);
  head.push(`avg latency ms (${targets.map(label).join(" / ")})`);
  head.push(`CPU µs per request, client + server (same order)`);
  head.push(`HTTP 200 % (same order)`);
  head.push(`answer right (same order)`);
  out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
  for (const script of O.scripts) {
    for (const sc of planned[script]) {
      for (const ep of sc.endpoints) {
        const cells = [script, `${sc.scenario} (${sc.requests.toLocaleString("en")} req, ${sc.concurrency} at once)`, ep];
        const row = (t) => {
          const r = find(script, t);
          return r && r.rows.find((x) => x.scenario === sc.scenario && x.endpoint === ep);
        };
        for (const t of targets) {
          const r = find(script, t);
          cells.push(r && r.na ? `n/a (${r.na})` : fmtRps(row(t)));
        }
        if (targets.includes("ref")) for (const t of targets.filter((t) => t !== "ref")) cells.push(ratio(row("ref"), row(t)));
        for (const t of againstBare) cells.push(ratio(row("bare"), row(t)));
        cells.push(targets.map((t) => fmtLat(row(t))).join(" / "));
        cells.push(targets.map((t) => (row(t) ? fmt(row(t).cpu_us_per_req, 0) : "—")).join(" / "));
        cells.push(targets.map((t) => (row(t) ? fmt(row(t).success_pct, 0) : "—")).join(" / "));
        cells.push(targets.map((t) => mark(find(script, t)?.probes?.[ep])).join(" / "));
        out.push(`| ${cells.join(" | ")} |`);
      }
    }
  }

  // 2. per scenario (single-instance: the mean over its endpoints, as the script's own summary)
  const summary = [];
  const sh = ["script", "scenario"];
  for (const t of targets) sh.push(`${label(t)} req/s`);
  for (const t of targets.filter((t) => t !== "ref")) if (targets.includes("ref")) sh.push(`${label(t)} ÷ ref`);
  for (const t of againstBare) sh.push(`${label(t)} ÷ bare`);
  sh.push(`avg latency ms (${targets.map(label).join(" / ")})`);
  sh.push(`CPU µs per request, client + server (same order)`);
  sh.push("answers right (same order)");
  summary.push(`| ${sh.join(" | ")} |`, `|${sh.map(() => "---").join("|")}|`);
  for (const script of O.scripts) {
    for (const sc of planned[script]) {
      const agg = (t) => {
        const r = find(script, t);
        if (!r) return null;
        const rows = sc.endpoints.map((ep) => r.rows.find((x) => x.scenario === sc.scenario && x.endpoint === ep));
        if (rows.some((x) => !x)) return null;
        const ok = rows.filter((x) => x.success_pct > 0);
        const cpu = rows.every((x) => x.cpu_s !== undefined) ? rows.reduce((a, x) => a + x.cpu_s, 0) : null;
        return {
          cpu_us_per_req: cpu === null ? null : (1e6 * cpu) / rows.reduce((a, x) => a + x.requests, 0),
          rps: rows.reduce((a, x) => a + x.rps, 0) / rows.length,
          success_pct: rows.reduce((a, x) => a + x.success_pct, 0) / rows.length,
          avg_ms: ok.length ? ok.reduce((a, x) => a + x.avg_ms, 0) / ok.length : null,
        };
      };
      const cells = [script, `${sc.scenario} (${sc.requests.toLocaleString("en")} req, ${sc.concurrency} at once)`];
      for (const t of targets) {
        const r = find(script, t);
        cells.push(r && r.na ? `n/a (${r.na})` : fmtRps(agg(t)));
      }
      if (targets.includes("ref")) for (const t of targets.filter((t) => t !== "ref")) cells.push(ratio(agg("ref"), agg(t)));
      for (const t of againstBare) cells.push(ratio(agg("bare"), agg(t)));
      cells.push(targets.map((t) => fmtLat(agg(t))).join(" / "));
      cells.push(targets.map((t) => fmt(agg(t)?.cpu_us_per_req, 0)).join(" / "));
      cells.push(
        targets
          .map((t) => {
            const p = find(script, t)?.probes;
            if (!p) return "?";
            const n = sc.endpoints.filter((ep) => p[ep]?.right).length;
            return `${n}/${sc.endpoints.length}`;
          })
          .join(" / "),
      );
      summary.push(`| ${cells.join(" | ")} |`);
    }
  }

  // 3. the answers themselves
  const answers = ["| script | endpoint | right answer | " + targets.map((t) => `${label(t)} answered`).join(" | ") + " |"];
  answers.push(`|${["", "", "", ...targets].map(() => "---").join("|")}|`);
  for (const script of O.scripts) {
    for (const e of SCRIPTS[script].endpoints) {
      const cells = [script, `\`${e.path.replace(/^\/default\/services\/[^/]+\//, "")}\``, `\`${e.right}\``];
      for (const t of targets) {
        const p = find(script, t)?.probes?.[e.name];
        cells.push(p ? `${p.right ? "✓" : "✗"} ${p.status ?? ""} \`${String(p.body).replace(/\|/g, "\\|").slice(0, 140)}\`` : "—");
      }
      answers.push(`| ${cells.join(" | ")} |`);
    }
  }

  // 4. the runs
  const runs = ["| script | target | end | wall s (from ready) | Deno process CPU (client + server) | CPU of everything else | load avg before → after |", "|---|---|---|---|---|---|---|"];
  for (const r of results) {
    runs.push(
      `| ${r.script} | ${label(r.target)} | ${r.na ? `n/a (${r.na})` : r.end}${r.notes.length ? `; ${r.notes.join("; ")}` : ""} | ${fmt(r.wall_s, 1)} | ${
        r.process_cpu_pct !== undefined ? `${r.process_cpu_pct} % of a core` : "—"
      } | ${r.other_cpu_pct !== undefined ? `${r.other_cpu_pct} % of a core` : "—"} | ${r.load1_before ?? "—"} → ${r.load1_after ?? "—"} |`,
    );
  }

  return { perEndpoint: out.join("\n"), perScenario: summary.join("\n"), answers: answers.join("\n"), runs: runs.join("\n") };
}

// ------------------------------------------------------------------ main

const planned = {};
for (const script of O.scripts) {
  const src = readFileSync(join(O.refDir, "test", "performance", `${script}.js`), "utf8");
  planned[script] = plannedScenarios(script, src);
  for (const e of SCRIPTS[script].endpoints) {
    if (!src.includes(`'${e.path}'`)) say(`warning: ${script}.js no longer loads ${e.path}: this driver's endpoint list is stale`);
  }
}

const started = new Date().toISOString();
const results = [];
for (const script of O.scripts) {
  for (const target of O.targets) {
    say(`${script} × ${TARGETS[target].label} (log: ${join(LOGDIR, `${script}.${target}.log`)})`);
    const r = await runOne(script, target);
    say(`  ${r.na ? `n/a: ${r.na}` : `${r.end}, ${r.rows.length} results, ${r.wall_s} s`}`);
    results.push(r);
  }
}

const t = tables(results, planned);
const md = [
  `### Per scenario (single-instance-benchmark: mean over its 5 endpoints, as its own summary)`,
  "",
  t.perScenario,
  "",
  `### Per scenario and endpoint`,
  "",
  t.perEndpoint,
  "",
  `### The answers (one plain GET per endpoint while each script ran)`,
  "",
  t.answers,
  "",
  `### The runs`,
  "",
  t.runs,
].join("\n");
console.log(md);
writeFileSync(
  O.out,
  JSON.stringify({ started, finished: new Date().toISOString(), budget_s: O.budget, meta: O.meta || {}, planned, results, markdown: md }, null, 2) + "\n",
);
say(`results: ${O.out}; logs: ${LOGDIR}`);
if (existsSync(O.out)) process.exit(0);
