// The HTTP service API benchmark's driver (started by bench/http.sh, which installs and builds
// what it needs and passes the paths). One target at a time: start the server (and, for ours and
// the Python server, the provider bench/http/provider.mjs), check the answers with fetch, load it
// with oha, read the server's CPU time from /proc, stop everything. Prints a Markdown table and
// writes the JSON. Nothing is asserted: a wrong or missing answer is a row, not a failure.
//
// Usage: node bench/http/run.mjs --oha PATH [--ours-bin PATH | --ours-na REASON]
//          [--ref-python PATH | --python-na REASON] [--deno PATH --deno-pkg DIR | --deno-na REASON]
//          [--quick] [--only ours,python,deno,floor] [--out FILE] [--logdir DIR]
import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, loadavg, cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { quick: false, only: null, out: join(REPO, "bench", "http-results.json"), logdir: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--quick": o.quick = true; break;
      case "--only": o.only = val().split(",").filter(Boolean); break;
      case "--out": o.out = resolve(val()); break;
      case "--logdir": o.logdir = resolve(val()); break;
      case "--oha": o.oha = resolve(val()); break;
      case "--ours-bin": o.oursBin = resolve(val()); break;
      case "--ours-na": o.oursNa = val(); break;
      case "--ref-python": o.refPython = resolve(val()); break;
      case "--python-na": o.pythonNa = val(); break;
      case "--deno": o.deno = resolve(val()); break;
      case "--deno-pkg": o.denoPkg = resolve(val()); break;
      case "--deno-na": o.denoNa = val(); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!o.oha) throw new Error("--oha is required");
  for (const t of o.only || []) {
    if (!["ours", "python", "deno", "floor"].includes(t)) throw new Error(`--only: unknown target ${t}`);
  }
  return o;
}

const O = parseArgs(process.argv.slice(2));
const LOGDIR = O.logdir || mkdtempSync(join(tmpdir(), "hypha-http-bench."));
mkdirSync(LOGDIR, { recursive: true });
const want = (t) => !O.only || O.only.includes(t);
const say = (...a) => console.error("[http-bench]", ...a);

// Per cell: oha runs for `dur` (then waits for the requests in flight), after a warm-up of `warm`
// at 32 connections once per target × request; `checks` fetches verify the answer before and
// after every cell.
const PLAN = O.quick
  ? { dur: 1, warm: 0.3, checks: 2, concurrency: [1, 32, 256] }
  : { dur: 5, warm: 1, checks: 3, concurrency: [1, 32, 256] };
const REQUEST_TIMEOUT_S = 30;

// ------------------------------------------------------------------ processes

const children = new Set();

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // own process group (detached), so its children go too
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

/** Ends `child` (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
async function stopChild(child, graceMs = 3000) {
  if (!child) return;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    killGroup(child, "SIGTERM");
    const t = setTimeout(() => killGroup(child, "SIGKILL"), graceMs);
    await exited;
    clearTimeout(t);
  }
  children.delete(child);
}

function killAll() {
  for (const c of children) killGroup(c, "SIGKILL");
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    say(`${sig}: stopping everything`);
    killAll();
    process.exit(130);
  });
}

/**
 * Spawns `cmd` in its own process group with stdout and stderr to `<logdir>/<name>.log`, and
 * resolves with {child, match} when a stdout line matches `re` (or rejects when it exits first
 * or `timeoutS` passes). Without `re`, resolves at once.
 */
function start(name, cmd, args, { re = null, timeoutS = 30, env = process.env, cwd = REPO } = {}) {
  const log = createWriteStream(join(LOGDIR, `${name}.log`));
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.stderr.pipe(log, { end: false });
  let buf = "";
  return new Promise((resolveP, rejectP) => {
    let done = false;
    const finish = (err, match) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) rejectP(err);
      else resolveP({ child, match });
    };
    const timer = setTimeout(
      () => finish(new Error(`${name}: no ${re} on stdout within ${timeoutS} s (log: ${join(LOGDIR, name + ".log")})`)),
      timeoutS * 1000,
    );
    child.stdout.on("data", (d) => {
      log.write(d);
      if (done || !re) return;
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = line.match(re);
        if (m) return finish(null, m);
      }
    });
    child.once("error", (e) => finish(new Error(`${name}: ${e.message}`)));
    child.once("exit", (code, sig) =>
      finish(new Error(`${name} exited (${sig || code}) before it was ready; log: ${join(LOGDIR, name + ".log")}`)),
    );
    if (!re) finish(null, null);
  });
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ CPU time from /proc

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function descendants(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, "utf8").split(/\s+/)) {
          if (c) out.push(Number(c));
        }
      } catch {
        /* exited */
      }
    }
  }
  return out;
}

/** utime + stime of `pid` and its descendants, in seconds (null if it is gone). */
function cpuSeconds(pid) {
  if (!pid) return null;
  let ticks = 0;
  let any = false;
  for (const p of descendants(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // fields 14 and 15: utime, stime
      any = true;
    } catch {
      /* exited */
    }
  }
  return any ? ticks / CLK_TCK : null;
}

// ------------------------------------------------------------------ requests

// A 102,400-character string (pseudo-random letters and digits, so that nothing along the way can
// shrink it much); the echo body is {"data": that string} and the right answer is that string,
// i.e. a body equal to JSON.stringify(string).
const ECHO_STRING = (() => {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = randomBytes(102400);
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += abc[bytes[i] % abc.length];
  return s;
})();
const ECHO_BODY = JSON.stringify({ data: ECHO_STRING });
const ECHO_FILE = join(LOGDIR, "echo-100KiB.json");
writeFileSync(ECHO_FILE, ECHO_BODY);

const REQUESTS = {
  multiply: {
    label: "GET multiply?a=9&b=22",
    path: (ws) => `/${ws}/services/bench/multiply?a=9&b=22`,
    method: "GET",
    expect: "198",
    right: (v) => v === 198,
  },
  echo: {
    label: "POST echo 100 KiB",
    path: (ws) => `/${ws}/services/bench/echo`,
    method: "POST",
    body: ECHO_BODY,
    expect: "the 102,400-character string",
    right: (v) => v === ECHO_STRING,
  },
  health: {
    label: "GET /health",
    path: () => "/health",
    method: "GET",
    expect: "200",
    right: () => true,
  },
};

function snippet(s, n = 80) {
  s = String(s);
  return s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;
}

/** One request with fetch; returns {status, ok, body, why}. */
async function check(url, req) {
  const init = { method: req.method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_S * 1000) };
  if (req.body) {
    init.body = req.body;
    init.headers = { "content-type": "application/json" };
  }
  let res;
  let text;
  try {
    res = await fetch(url, init);
    text = await res.text();
  } catch (e) {
    return { status: null, ok: false, body: null, why: `request failed: ${e.cause?.message || e.message}` };
  }
  if (res.status !== 200) return { status: res.status, ok: false, body: snippet(text), why: `status ${res.status}` };
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return { status: 200, ok: false, body: snippet(text), why: `body is not JSON: ${snippet(text, 40)}` };
  }
  if (!req.right(value)) return { status: 200, ok: false, body: snippet(text), why: `body ${snippet(text, 40)} (expected ${req.expect})` };
  return { status: 200, ok: true, body: snippet(text), why: null };
}

async function checks(url, req, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await check(url, req));
  return out;
}

// ------------------------------------------------------------------ oha

function ohaArgs(url, req, concurrency, seconds) {
  const a = ["--no-tui", "--output-format", "json", "-z", `${seconds}s`, "-c", String(concurrency), "-w", "-t", `${REQUEST_TIMEOUT_S}s`];
  if (req.method !== "GET") a.push("-m", req.method);
  if (req.body) a.push("-T", "application/json", "-D", ECHO_FILE);
  a.push(url);
  return a;
}

function runOha(url, req, concurrency, seconds) {
  return new Promise((res) => {
    const child = execFile(O.oha, ohaArgs(url, req, concurrency, seconds), { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      children.delete(child);
      if (err && !stdout) return res({ error: `oha failed: ${(stderr || err.message).trim().split("\n").slice(-3).join(" ")}` });
      try {
        res({ json: JSON.parse(stdout) });
      } catch (e) {
        res({ error: `oha output is not JSON: ${e.message}` });
      }
    });
    children.add(child);
  });
}

/** The numbers we keep from oha's JSON. */
function summarize(j) {
  const statuses = j.statusCodeDistribution || {};
  const errors = j.errorDistribution || {};
  const count = Object.values(statuses).reduce((a, b) => a + b, 0);
  const pct = j.latencyPercentiles || {};
  const ms = (v) => (v == null ? null : v * 1000);
  return {
    requests: count,
    seconds: j.summary?.total ?? null,
    // oha's requestsPerSec counts failed attempts (e.g. refused connections) too
    rps: j.summary?.total ? count / j.summary.total : null,
    p50_ms: ms(pct.p50),
    p99_ms: ms(pct.p99),
    mean_ms: ms(j.summary?.average),
    max_ms: ms(j.summary?.slowest),
    statuses,
    errors,
  };
}

// ------------------------------------------------------------------ targets

async function waitHttp(url, timeoutS, child) {
  const end = Date.now() + timeoutS * 1000;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === 200) return true;
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  return false;
}

async function startProvider(tag, wsUrl) {
  const { child, match } = await start(`${tag}-provider`, process.execPath, [join(HERE, "provider.mjs"), wsUrl], {
    re: /^PROVIDER_READY (\S+)/,
    timeoutS: 60,
  });
  return { provider: child, ws: match[1] };
}

async function startOurs() {
  const secret = randomBytes(24).toString("hex");
  const args = ["--host", "127.0.0.1", "--port", "0", "--jwt-secret", secret];
  // Like python hypha's (turned off in startPython), its per-identity HTTP rate limiter must not
  // answer oha with 429s: all of oha's requests come from one anonymous caller.
  if (/--rate-limit\b/.test(versionOf(O.oursBin, ["--help"], true) || "")) args.push("--rate-limit", "0");
  const { child, match } = await start("ours-server", O.oursBin, args, {
    re: /HYPHA_CORE_SERVER_LISTENING (http:\/\/\S+)/,
    timeoutS: 30,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
  });
  const base = match[1].replace(/\/$/, "");
  try {
    const { provider, ws } = await startProvider("ours", base);
    return { server: child, provider, base, ws };
  } catch (e) {
    await stopChild(child);
    throw e;
  }
}

async function startPython() {
  const port = await freePort();
  const cwd = join(LOGDIR, "python-cwd");
  mkdirSync(cwd, { recursive: true });
  const env = {
    ...process.env,
    // as bench/run.sh: hypha's per-client WebSocket rate limiter must not throttle the provider
    HYPHA_WS_MSG_RATE_LIMIT: "10000000",
    HYPHA_WS_MSG_BURST_LIMIT: "10000000",
    // and its per-IP HTTP rate limiter (100 req/s, burst 500) must not answer oha with 429s
    HYPHA_HTTP_RATE_LIMIT: "10000000",
    HYPHA_HTTP_BURST_LIMIT: "10000000",
    HYPHA_LOGLEVEL: "WARNING",
  };
  const { child } = await start("python-server", O.refPython, ["-m", "hypha.server", "--host", "127.0.0.1", "--port", String(port)], {
    env,
    cwd,
  });
  const base = `http://127.0.0.1:${port}`;
  if (!(await waitHttp(`${base}/health/liveness`, 120, child))) {
    const exited = child.exitCode ?? child.signalCode;
    await stopChild(child);
    const what = exited != null ? `exited (${exited})` : "did not answer /health/liveness within 120 s";
    throw new Error(`python hypha ${what}; log: ${join(LOGDIR, "python-server.log")}`);
  }
  try {
    const { provider, ws } = await startProvider("python", base);
    return { server: child, provider, base, ws };
  } catch (e) {
    await stopChild(child);
    throw e;
  }
}

async function startDeno() {
  const port = await freePort();
  const secret = randomBytes(24).toString("hex");
  const { child, match } = await start(
    "deno-server",
    O.deno,
    ["run", "--allow-all", "--no-lock", "--config", join(O.denoPkg, "deno.json"), join(HERE, "deno-server.mjs"), O.denoPkg, String(port), secret],
    { re: /^DENO_READY (\S+)/, timeoutS: 180, env: { ...process.env, NO_COLOR: "1" } },
  );
  return { server: child, provider: null, base: `http://127.0.0.1:${port}`, ws: match[1] };
}

// ------------------------------------------------------------------ cells

const rows = [];

function naRows(target, reqKeys, reason) {
  for (const k of reqKeys) {
    for (const c of PLAN.concurrency) rows.push({ target, request: k, concurrency: c, answered: false, right: false, note: reason });
  }
}

async function measureTarget(target, run, reqKeys) {
  for (const k of reqKeys) {
    const req = REQUESTS[k];
    const url = run.base + req.path(run.ws);
    const first = await check(url, req);
    if (first.status !== 200) {
      const why = first.status == null ? `not answered: ${first.why}` : `not answered: ${first.status}`;
      say(`${target} ${k}: ${why} (${url}) ${first.body ? `body ${first.body}` : ""}`);
      for (const c of PLAN.concurrency) {
        rows.push({ target, request: k, concurrency: c, url, answered: false, right: false, note: why, first_check: first });
      }
      continue;
    }
    say(`${target} ${k}: warm-up ${PLAN.warm} s at 32 connections`);
    await runOha(url, req, 32, PLAN.warm);
    for (const c of PLAN.concurrency) {
      const before = await checks(url, req, PLAN.checks);
      const srv0 = cpuSeconds(run.server.pid);
      const prov0 = run.provider ? cpuSeconds(run.provider.pid) : null;
      const load = await runOha(url, req, c, PLAN.dur);
      const srv1 = cpuSeconds(run.server.pid);
      const prov1 = run.provider ? cpuSeconds(run.provider.pid) : null;
      const after = await checks(url, req, PLAN.checks);
      const row = { target, request: k, concurrency: c, url, answered: true, checks: [...before, ...after] };
      if (load.error) {
        row.note = load.error;
        row.right = false;
      } else {
        const s = summarize(load.json);
        Object.assign(row, s);
        const per = (a, b) => (a == null || b == null || !s.requests ? null : ((b - a) * 1e6) / s.requests);
        row.server_cpu_s = srv0 == null || srv1 == null ? null : srv1 - srv0;
        row.server_cpu_us_per_req = per(srv0, srv1);
        row.provider_cpu_us_per_req = per(prov0, prov1);
        const non200 = Object.entries(s.statuses).filter(([code]) => code !== "200");
        const errs = Object.entries(s.errors).filter(([e]) => !/deadline/i.test(e));
        const bad = row.checks.find((x) => !x.ok);
        const why = [];
        if (bad) why.push(bad.why);
        if (non200.length) why.push(`statuses ${non200.map(([code, n]) => `${code}×${n}`).join(", ")}`);
        if (errs.length) why.push(`errors ${errs.map(([e, n]) => `${e}×${n}`).join(", ")}`);
        if (!s.requests) why.push("no request completed");
        row.right = why.length === 0;
        if (why.length) row.note = why.join("; ");
      }
      rows.push(row);
      say(
        `${target} ${k} c=${c}: ${row.requests ?? 0} requests, p50 ${fmtMs(row.p50_ms)} ms, p99 ${fmtMs(row.p99_ms)} ms, ` +
          `${fmt(row.rps, 0)} req/s, server CPU ${fmt(row.server_cpu_us_per_req, 0)} µs/req` +
          `${row.provider_cpu_us_per_req != null ? ` (provider ${fmt(row.provider_cpu_us_per_req, 0)})` : ""}, right: ${row.right ? "yes" : `no (${row.note})`}`,
      );
    }
  }
}

async function runTarget(target, starter, reqKeys) {
  let run;
  try {
    say(`starting ${target}`);
    run = await starter();
  } catch (e) {
    say(`${target}: ${e.message}`);
    naRows(target, reqKeys, `n/a: ${e.message.split("\n")[0]}`);
    return;
  }
  try {
    say(`${target}: ${run.base}, workspace ${run.ws}`);
    await measureTarget(target, run, reqKeys);
  } finally {
    await stopChild(run.provider);
    await stopChild(run.server);
  }
}

// ------------------------------------------------------------------ report

function fmt(v, digits) {
  if (v == null || Number.isNaN(v)) return "–";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds with 3 significant digits (at least), e.g. 0.123, 1.46, 51.9, 7,992. */
function fmtMs(v) {
  if (v == null || Number.isNaN(v)) return "–";
  return fmt(v, v < 1 ? 3 : v < 10 ? 2 : v < 100 ? 1 : 0);
}

function versionOf(cmd, args, all = false) {
  try {
    const out = execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return all ? out : out.split("\n")[0];
  } catch {
    return null;
  }
}

const TARGETS = {
  ours: "ours (hypha-core-server)",
  python: "python hypha",
  deno: "hypha-core 0.20.86 (Deno)",
  floor: "floor: ours GET /health",
};

function table(meta) {
  const out = [];
  out.push(`| target | request | conc. | p50 ms | p99 ms | req/s | server CPU µs/req | provider CPU µs/req | answers right |`);
  out.push(`|---|---|--:|--:|--:|--:|--:|--:|---|`);
  for (const r of rows) {
    const right = !r.answered ? r.note : r.right ? "yes" : `no: ${r.note}`;
    const provider =
      r.target === "deno" && r.answered ? "in the server" : r.target === "floor" ? "–" : fmt(r.provider_cpu_us_per_req, 0);
    out.push(
      `| ${TARGETS[r.target]} | ${REQUESTS[r.request].label} | ${r.concurrency} | ${fmtMs(r.p50_ms)} | ${fmtMs(r.p99_ms)} | ` +
        `${fmt(r.rps, 0)} | ${fmt(r.server_cpu_us_per_req, 0)} | ${provider} | ${right.replace(/\|/g, "\\|")} |`,
    );
  }
  out.push("");
  out.push(
    `oha ${meta.oha_version ?? "?"}, ${meta.quick ? "quick: " : ""}${PLAN.dur} s per cell (-z, then the requests in flight finish), ` +
      `${PLAN.warm} s warm-up at 32 connections per target × request, ${PLAN.checks} fetch checks before and after each cell. ` +
      `Server (provider) CPU = utime + stime of the server's (provider's) process tree during the cell ÷ responses. ` +
      `For ours and python hypha the provider is bench/http/provider.mjs (Node, hypha-rpc ${meta.hypha_rpc_npm ?? "?"}) over ` +
      `WebSocket; for hypha-core the service is registered in the server's own process (on the api start() returns), as its ` +
      `users do, so its server CPU includes the calls.`,
  );
  out.push(
    `${meta.cpus} cores, load average ${meta.load_before.map((x) => x.toFixed(2)).join(" ")} before, ` +
      `${meta.load_after.map((x) => x.toFixed(2)).join(" ")} after. Versions: ${Object.entries(meta.versions)
        .filter(([, v]) => v)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}.`,
  );
  return out.join("\n");
}

// ------------------------------------------------------------------ main

async function main() {
  const t0 = Date.now();
  const meta = {
    date: new Date().toISOString(),
    quick: O.quick,
    plan: PLAN,
    cpus: cpus().length,
    load_before: loadavg(),
    oha_version: versionOf(O.oha, ["--version"])?.replace(/^oha\s+/, ""),
    hypha_rpc_npm: JSON.parse(readFileSync(join(REPO, "node_modules", "hypha-rpc", "package.json"), "utf8")).version,
    versions: {},
    logdir: LOGDIR,
  };
  meta.versions.node = process.version;
  if (O.refPython) {
    meta.versions["python hypha"] = versionOf(O.refPython, ["-c", "import importlib.metadata as m; print(m.version('hypha'))"]);
  }
  if (O.deno) meta.versions.deno = versionOf(O.deno, ["--version"])?.replace(/^deno\s+/, "");
  if (O.oursBin) meta.versions["ours: repo at"] = versionOf("git", ["-C", REPO, "describe", "--always", "--dirty"]);
  if (meta.versions["python hypha"]) TARGETS.python = `python hypha ${meta.versions["python hypha"]}`;
  say(`logs in ${LOGDIR}`);

  const svcReqs = ["multiply", "echo"];
  if (want("ours") || want("floor")) {
    const reqs = [...(want("ours") ? svcReqs : [])];
    if (!O.oursBin) {
      naRows("ours", reqs, O.oursNa || "n/a (no binary)");
      if (want("floor")) naRows("floor", ["health"], O.oursNa || "n/a (no binary)");
    } else {
      let run;
      try {
        say("starting ours");
        run = await startOurs();
      } catch (e) {
        say(`ours: ${e.message}`);
        naRows("ours", reqs, `n/a: ${e.message.split("\n")[0]}`);
        if (want("floor")) naRows("floor", ["health"], `n/a: ${e.message.split("\n")[0]}`);
      }
      if (run) {
        try {
          say(`ours: ${run.base}, workspace ${run.ws}`);
          await measureTarget("ours", run, reqs);
          if (want("floor")) await measureTarget("floor", run, ["health"]);
        } finally {
          await stopChild(run.provider);
          await stopChild(run.server);
        }
      }
    }
  }
  if (want("python")) {
    if (O.refPython) await runTarget("python", startPython, svcReqs);
    else naRows("python", svcReqs, O.pythonNa || "n/a (python hypha not installed)");
  }
  if (want("deno")) {
    if (O.deno && O.denoPkg) await runTarget("deno", startDeno, svcReqs);
    else naRows("deno", svcReqs, O.denoNa || "n/a (deno or the hypha-core package missing)");
  }

  meta.load_after = loadavg();
  meta.seconds = (Date.now() - t0) / 1000;
  const md = table(meta);
  console.log(md);
  writeFileSync(O.out, JSON.stringify({ meta, targets: TARGETS, requests: Object.fromEntries(Object.entries(REQUESTS).map(([k, r]) => [k, r.label])), rows }, null, 2) + "\n");
  say(`wrote ${O.out} (${meta.seconds.toFixed(0)} s)`);
}

main().then(
  () => process.exit(0),
  (e) => {
    say(e.stack || String(e));
    process.exit(1);
  },
);
