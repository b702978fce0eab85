#!/usr/bin/env node
// hypha-rpc's own JavaScript test suite against hypha-core-server, in headless Chromium.
//
// The hypha-rpc@0.21.40 npm package accidentally ships hypha-rpc-0.21.15.tgz, whose dist/ holds
// the JS client's karma-webpack test build: runtime.js + commons.js (client 0.21.15, chai and all
// five test modules) + one tiny entry chunk per test file that executes its module. They expect
// mocha's BDD globals (karma-mocha provided them; nothing karma-specific) and a server at the
// constant http://127.0.0.1:9394. We extract the tarball into .cache/rpc-suite-js/, rewrite that
// constant in a copy of commons.js to a fresh server on a free port, and run each test file in its
// own page (and its own server) under mocha 10 (timeout 2000 ms, karma-mocha's default).
//
// Usage: node tests/rpc-suite-js/run.mjs [file-substring...] [--grep=REGEX] [--run-excluded]
//                                          [--same-origin]
//   HYPHA_CORE_SERVER_BIN  server binary (default target/debug/hypha-core-server)
//   --grep=REGEX           only tests whose full title matches (mocha's grep)
//   --run-excluded         run the tests in exclusions.txt too (their failures still don't count)
//   --same-origin          serve the page from the server's origin (a proxy in front of it)
//                          instead of a separate one as karma did; a diagnostic, see README.md
import { spawn, execFileSync } from "node:child_process";
import { createServer, request } from "node:http";
import net from "node:net";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CACHE = path.join(ROOT, ".cache/rpc-suite-js");
const TGZ = path.join(ROOT, "node_modules/hypha-rpc/hypha-rpc-0.21.15.tgz");
const SERVER_BIN = process.env.HYPHA_CORE_SERVER_BIN || path.join(ROOT, "target/debug/hypha-core-server");
const MOCHA_VERSION = "10.8.2";
const FILE_TIMEOUT_MS = 5 * 60 * 1000;
const args = process.argv.slice(2);
const runExcluded = args.includes("--run-excluded");
const sameOrigin = args.includes("--same-origin");
const fileFilters = args.filter((a) => !a.startsWith("--"));
const grep = (args.find((a) => a.startsWith("--grep=")) || "").slice(7);

// exclusions.txt: one mocha full title per line; `# ...` is a comment / the reason.
const exclusions = new Map();
let reason = "";
for (const line of fs.readFileSync(path.join(HERE, "exclusions.txt"), "utf8").split("\n")) {
  const [title, comment] = [line.split("#")[0].trim(), line.split("#").slice(1).join("#").trim()];
  if (!title) { if (comment) reason = comment; continue; }
  exclusions.set(title, comment || reason);
}

// 1. The test build, extracted fresh each run.
const PKG = path.join(CACHE, "package");
fs.rmSync(PKG, { recursive: true, force: true });
fs.mkdirSync(CACHE, { recursive: true });
execFileSync("tar", ["-xzf", TGZ, "-C", CACHE, "package/dist"]);
const DIST = path.join(PKG, "dist");
const commonsSrc = fs.readFileSync(path.join(DIST, "commons.js"), "utf8");
const testFiles = fs.readdirSync(DIST)
  .filter((f) => /_test\.\d+\.js$/.test(f))
  .filter((f) => !fileFilters.length || fileFilters.some((s) => f.includes(s)))
  .sort();

// 2. mocha: from the project's node_modules if there, else from our cache (installed once).
function findMocha() {
  for (const dir of [path.join(ROOT, "node_modules/mocha"), path.join(CACHE, "node_modules/mocha")])
    if (fs.existsSync(path.join(dir, "mocha.js"))) return dir;
  execFileSync("npm", ["install", "--prefix", CACHE, "--no-save", "--no-audit", "--no-fund",
    `mocha@${MOCHA_VERSION}`], { stdio: "inherit", timeout: 180000 });
  return path.join(CACHE, "node_modules/mocha");
}
const MOCHA = findMocha();

// 3. Our server, on a free port; resolves to its URL. Killed when we exit, however we exit.
const servers = new Set();
process.on("exit", () => servers.forEach((p) => p.kill()));
function startServer(logFile) {
  const proc = spawn(SERVER_BIN, ["--host", "127.0.0.1", "--port", "0",
    "--jwt-secret", randomBytes(16).toString("hex")], { stdio: ["ignore", "pipe", "pipe"] });
  servers.add(proc);
  proc.stderr.pipe(fs.createWriteStream(logFile));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start in 30 s")), 30000);
    let buf = "";
    proc.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/HYPHA_CORE_SERVER_LISTENING (\S+)/);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1].replace(/\/$/, "") }); }
    });
    proc.on("error", reject);
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited (${code})`)); });
  });
}

// 4. The page, mocha and the (rewritten) bundle, under /__suite/. With --same-origin every other
//    path (HTTP and WebSocket upgrades) is passed through to the hypha server.
const TYPES = { ".js": "text/javascript", ".css": "text/css", ".map": "application/json" };
let current = null; // { html, commons, server } of the file being run
const http = createServer((req, res) => {
  const url = new URL(req.url, "http://x").pathname;
  const [, dir, rel] = url.match(/^\/__suite\/(dist|mocha)\/([\w.-]+)$/) || [];
  const file = dir && path.join(dir === "dist" ? DIST : MOCHA, rel);
  let body;
  if (url === "/__suite/") body = current.html;
  else if (url === "/__suite/dist/commons.js") body = current.commons;
  else if (file && fs.existsSync(file)) body = fs.readFileSync(file);
  else if (sameOrigin && !url.startsWith("/__suite/")) {
    const { hostname, port } = new URL(current.server);
    const up = request({ hostname, port, method: req.method, path: req.url, headers: req.headers },
      (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    up.on("error", () => res.destroy());
    req.pipe(up);
    return;
  }
  if (body === undefined) { res.writeHead(404).end(); return; }
  res.writeHead(200, { "content-type": TYPES[path.extname(url)] || "text/html" }).end(body);
});
http.on("upgrade", (req, sock, head) => {
  if (!sameOrigin) return sock.destroy();
  const { hostname, port } = new URL(current.server);
  const up = net.connect(port, hostname, () => {
    const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`)];
    up.write(lines.join("\r\n") + "\r\n\r\n");
    up.write(head);
    up.pipe(sock).on("error", () => up.destroy());
    sock.pipe(up);
  });
  up.on("error", () => sock.destroy());
});
await new Promise((r) => http.listen(0, "127.0.0.1", r));
const ORIGIN = `http://127.0.0.1:${http.address().port}`;

const pageHtml = (entry) => `<!doctype html><meta charset="utf-8">
<link rel="stylesheet" href="/__suite/mocha/mocha.css"><div id="mocha"></div>
<script src="/__suite/mocha/mocha.js"></script>
<script>mocha.setup({ ui: "bdd", timeout: 2000${grep ? `, grep: ${JSON.stringify(grep)}` : ""} });</script>
<script src="/__suite/dist/runtime.js"></script>
<script src="/__suite/dist/commons.js"></script>
<script src="/__suite/dist/${entry}"></script>
<script>
  const skip = new Set(${JSON.stringify(runExcluded ? [] : [...exclusions.keys()])});
  (function mark(suite) {
    suite.tests.forEach((t) => { if (skip.has(t.fullTitle())) t.pending = true; });
    suite.suites.forEach(mark);
  })(mocha.suite);
  const report = (state, t, err) => window.__report({ state, title: t.fullTitle(),
    ms: t.duration, error: err && String(err.message || err).trim() });
  mocha.run(() => window.__report({ state: "end" }))
    .on("pass", (t) => report("passed", t))
    .on("fail", (t, err) => report("failed", t, err))
    .on("pending", (t) => report("pending", t));
</script>`;

// 5. Each file: fresh server, fresh page, results streamed back via __report.
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless=new"] });
const LOGS = path.join(CACHE, "logs");
fs.mkdirSync(LOGS, { recursive: true });
const results = []; // { file, title, state, error, excluded }
for (const entry of testFiles) {
  const name = entry.replace(/\.\d+\.js$/, "");
  console.log(`\n=== ${name}`);
  const server = await startServer(path.join(LOGS, `${name}.server.log`));
  const serverHost = new URL(sameOrigin ? ORIGIN : server.url).host;
  current = { server: server.url, html: pageHtml(entry), commons: commonsSrc.replaceAll("127.0.0.1:9394", serverHost) };
  const consoleLog = fs.createWriteStream(path.join(LOGS, `${name}.console.log`));
  const page = await browser.newPage();
  page.on("console", (m) => consoleLog.write(`[${m.type()}] ${m.text()}\n`));
  page.on("pageerror", (e) => consoleLog.write(`[pageerror] ${e.stack || e}\n`));
  let finish;
  const done = new Promise((r) => (finish = r));
  page.on("crash", () => finish(false));
  await page.exposeFunction("__report", (r) => {
    if (r.state === "end") return finish(true);
    r.file = name;
    r.excluded = exclusions.has(r.title);
    results.push(r);
    const mark = { passed: "✓", failed: "✗", pending: "-" }[r.state];
    console.log(`  ${mark} ${r.title}${r.ms ? ` (${r.ms} ms)` : ""}${r.error ? `\n      ${r.error.split("\n")[0]}` : ""}`);
  });
  await page.goto(`${ORIGIN}/__suite/`);
  const timer = setTimeout(() => finish(false), FILE_TIMEOUT_MS);
  if (!(await done)) {
    results.push({ file: name, title: `${name} (file timeout)`, state: "failed",
      error: `page crashed or did not finish within ${FILE_TIMEOUT_MS / 1000} s; later tests did not run` });
    console.log(`  ✗ page crashed or timed out`);
  }
  clearTimeout(timer);
  await page.close();
  consoleLog.end();
  server.proc.kill();
  servers.delete(server.proc);
}
await browser.close();
http.close();

// 6. Summary.
console.log("\n=== Summary (logs in .cache/rpc-suite-js/logs/)");
const count = (rs, s) => rs.filter((r) => r.state === s).length;
for (const entry of testFiles) {
  const name = entry.replace(/\.\d+\.js$/, "");
  const rs = results.filter((r) => r.file === name);
  console.log(`  ${name}: ${count(rs, "passed")} passed, ${count(rs, "failed")} failed, ${count(rs, "pending")} pending`);
}
const failed = results.filter((r) => r.state === "failed");
const unexpected = failed.filter((r) => !r.excluded);
for (const r of failed)
  console.log(`  ${r.excluded ? "EXCLUDED " : ""}FAIL ${r.file}: ${r.title}\n      ${r.error}`);
console.log(`  total: ${count(results, "passed")} passed, ${failed.length} failed ` +
  `(${unexpected.length} not excluded), ${count(results, "pending")} pending`);
process.exit(unexpected.length ? 1 : 0);
