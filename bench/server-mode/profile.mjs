// Where a server-mode request's time goes: ours in Deno, loaded as hypha-core's performance
// scripts load it (`fetch` from the same process, batches of N at once), under V8's sampling
// profiler (node:inspector). Prints requests/s per round and self time by source file and by
// function (idle and GC included, so the shares add up to the whole thread).
//
//   .cache/deno/node_modules/.bin/deno run -A bench/server-mode/profile.mjs \
//       [--dist DIR] [--requests N] [--at C] [--rounds R] [--top N] [--no-profile]
//
// Function names are only readable in unminified code and a wasm with its name section: build
// one with `node scripts/build-js.mjs --dev` (or keep names with `wasm-opt -g`) and pass its
// directory as --dist. Numbers printed, never asserted.
import inspector from "node:inspector";

const options = { dist: new URL("../../dist", import.meta.url).pathname, requests: 10000, at: 100, rounds: 2, top: 30, profile: true };
for (let i = 0; i < Deno.args.length; i++) {
  const [key, value] = [Deno.args[i], Deno.args[i + 1]];
  if (key === "--no-profile") options.profile = false;
  else if (["--dist", "--requests", "--at", "--rounds", "--top"].includes(key)) {
    options[key.slice(2)] = key === "--dist" ? value : Number(value);
    i++;
  } else {
    console.error(`profile.mjs: unknown argument ${key}`);
    Deno.exit(2);
  }
}

const { HyphaCore } = await import(`${options.dist}/hypha-core.mjs`);
const { DenoWebSocketServer } = await import(`${options.dist}/deno-websocket-server.mjs`);
const port = 9783;
const core = new HyphaCore({ port, ServerClass: DenoWebSocketServer, http: { rateLimit: 0 } });
const api = await core.start();
await api.registerService({
  id: "math",
  config: { visibility: "public" },
  multiply: (a = 1, b = 1) => ({ result: Number(a) * Number(b) }),
});
const url = `http://127.0.0.1:${port}/default/services/math/multiply?a=9&b=22`;
const answer = await (await fetch(url)).json();
if (answer.result !== 198) throw new Error(`wrong answer: ${JSON.stringify(answer)}`);

async function batches(total, at) {
  const started = performance.now();
  for (let done = 0; done < total; done += at) {
    const n = Math.min(at, total - done);
    await Promise.all(Array.from({ length: n }, () => fetch(url).then((r) => r.json())));
  }
  return total / ((performance.now() - started) / 1000);
}

await batches(3000, options.at); // warm-up
const session = new inspector.Session();
const post = (method, params = {}) =>
  new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
if (options.profile) {
  session.connect();
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 100 });
  await post("Profiler.start");
}
const rates = [];
for (let round = 0; round < options.rounds; round++) rates.push(Math.round(await batches(options.requests, options.at)));
console.log(`${options.requests} requests, ${options.at} at once, req/s per round: ${rates.join(" ")}`);
if (options.profile) {
  const { profile } = await post("Profiler.stop");
  summarize(profile, options.top);
}
await core.close();

function summarize(profile, top) {
  const time = new Map();
  profile.samples.forEach((node, i) => time.set(node, (time.get(node) || 0) + (profile.timeDeltas[i] || 0)));
  const byFunction = new Map();
  const byFile = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const t = time.get(node.id) || 0;
    total += t;
    const frame = node.callFrame;
    const file = (frame.url || "(native)").split("/").pop();
    const name = `${frame.functionName || "(anonymous)"} ${file}`;
    byFunction.set(name, (byFunction.get(name) || 0) + t);
    byFile.set(file, (byFile.get(file) || 0) + t);
  }
  const print = (title, map, n) => {
    console.log(`\n${title} (% of the main thread's samples)`);
    for (const [key, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`${((100 * t) / total).toFixed(1).padStart(6)}  ${key}`);
    }
  };
  print("self time by file", byFile, 12);
  print("self time by function", byFunction, top);
}
