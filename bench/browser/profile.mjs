#!/usr/bin/env node
// Where the time of one benchmark row goes: runs it under the V8 sampling profiler (CDP
// `Profiler`) of the page's main thread and prints self time by source module and by function.
//
//   node bench/browser/profile.mjs [--impl ours|reference] [--dist DIR] [--which inTab|worker|start]
//                                  [--arg small|big] [--mode flight|seq] [--calls N] [--top N]
//
// Function names are only readable in an unminified build: for ours, build one with
// `node scripts/build-js.mjs --dev` and pass its directory as --dist. esbuild's `// path`
// comments in such a bundle then attribute each function to its source module.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, benchSession, parseOptions } from "./lib.mjs";

const DEFAULTS = { impl: "ours", dist: join(REPO, "dist"), which: "inTab", arg: "small", mode: "flight", calls: 20000, top: 30 };

/** Bundle line → source module, from esbuild's `// path/to/module.js` comments. */
function moduleMap(file) {
  let lines;
  try {
    lines = readFileSync(file, "utf8").split("\n");
  } catch {
    return () => null;
  }
  const starts = [];
  lines.forEach((line, i) => {
    const m = line.match(/^\/\/ ((?:\.\.\/)*[\w@.+/-]+\.(?:m?js|ts))$/);
    if (m) starts.push([i, m[1].replace(/^(\.\.\/)+/, "")]);
  });
  return (line) => {
    let found = null;
    for (const [start, name] of starts) {
      if (start > line) break;
      found = name;
    }
    return found;
  };
}

async function main() {
  const o = parseOptions(process.argv.slice(2), DEFAULTS, "profile.mjs");
  const session = await benchSession(o);
  const { context, page, ev, moduleUrl } = session;
  const bundleFile = o.impl === "ours" ? join(o.dist, "hypha-core.mjs") : null;
  try {
    if (o.which === "start") {
      // A cold start: import() + new HyphaCore() + start() in a fresh page, profiled whole.
      const cdp = await context.newCDPSession(page);
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
      await cdp.send("Profiler.start");
      const measured = await ev("start", moduleUrl);
      const { profile } = await cdp.send("Profiler.stop");
      console.log(`${o.impl} start: ${JSON.stringify(measured)}`);
      report(profile, bundleFile ? moduleMap(bundleFile) : null, o.top, 0);
      await context.close();
      return;
    }
    await ev("start", moduleUrl);
    await ev("setupInTab");
    if (o.which === "worker") await ev("setupWorker", session.workerUrl);
    const run = () =>
      o.mode === "flight" ? ev("throughput", o.which, o.arg, o.calls, 60_000) : ev("latency", o.which, o.arg, 0, o.calls);
    await run(); // warm: JIT, caches
    const cdp = await context.newCDPSession(page);
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
    await cdp.send("Profiler.start");
    const measured = await run();
    const { profile } = await cdp.send("Profiler.stop");
    console.log(`${o.impl} ${o.which} ${o.arg} ${o.mode}: ${JSON.stringify(measured)}`);
    report(profile, bundleFile ? moduleMap(bundleFile) : null, o.top, measured.done || measured.n);
    await context.close();
  } finally {
    await session.close();
  }
}

/** The module a call frame belongs to (a bundle line through `moduleOf`, else its URL). */
function frameModule(f, moduleOf) {
  const file = f.url ? f.url.replace(/^https?:\/\/[^/]+/, "") : "";
  const module = moduleOf && file.endsWith("hypha-core.mjs") ? moduleOf(f.lineNumber) : null;
  if (module) return module;
  if (!file) return f.functionName.startsWith("(") ? f.functionName : null; // null: a builtin
  if (file.startsWith("wasm://") || /\.wasm$/.test(file)) return "(wasm)";
  return file;
}

/** Coarse owner of a module: who would have to change for that time to go away. */
function category(module) {
  if (/@msgpack/.test(module)) return "hypha-rpc: msgpack";
  if (/hypha-rpc/.test(module)) return "hypha-rpc: rpc";
  if (module === "(wasm)") return "server: wasm";
  if (/pkg\/hypha_core\.js/.test(module)) return "server: wasm-bindgen glue";
  if (/js\/src\//.test(module)) return "facade (js/src)";
  if (/tweetnacl/.test(module)) return "tweetnacl";
  if (/^\/bench\//.test(module)) return "bench harness";
  if (/^\/ref\//.test(module)) return "reference bundle";
  if (module.startsWith("(")) return module; // (garbage collector), (program), (idle)
  return "other";
}

function report(profile, moduleOf, top, calls) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parentOf.set(c, n.id);
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0; // delta to the next sample belongs to this one
    self.set(profile.samples[i], (self.get(profile.samples[i]) || 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map();
  const byModule = new Map();
  const byCategory = new Map();
  const add = (map, key, us) => map.set(key, (map.get(key) || 0) + us);
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id);
    let module = frameModule(f, moduleOf);
    let fn = `${f.functionName || "(anonymous)"}  ${module || "(builtin)"}:${f.lineNumber + 1}`;
    if (module === null) {
      // A builtin (TextEncoder.encodeInto, postMessage, setTimeout ...) counts for the module
      // of the nearest caller that has one.
      let p = parentOf.get(id);
      while (p !== undefined && frameModule(byId.get(p).callFrame, moduleOf) === null) p = parentOf.get(p);
      const caller = p !== undefined ? byId.get(p).callFrame : null;
      module = caller ? frameModule(caller, moduleOf) : "(builtin)";
      if (caller) fn = `${f.functionName}  ← ${caller.functionName || "(anonymous)"} ${module}:${caller.lineNumber + 1}`;
    }
    add(byFn, fn, us);
    add(byModule, module, us);
    add(byCategory, category(module), us);
  }
  const print = (title, map, n) => {
    console.log(`\n${title}\n`);
    for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      const perCall = calls ? `${(us / calls).toFixed(1).padStart(7)} µs/call` : "";
      console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms ${perCall}  ${k}`);
    }
  };
  console.log(`sampled ${(total / 1000).toFixed(0)} ms on the page's main thread (builtins count for their caller's module)`);
  print("self time by owner", byCategory, 20);
  print("self time by module", byModule, 25);
  print("self time by function", byFn, top);
}

main().catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
