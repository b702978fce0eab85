// What our own stack costs per HTTP request, without Deno's HTTP server or a client: requests
// are handed to the server-mode driver's exchanges (js/src/server/http-exchanges.js) the way
// listen-deno.js hands them over, 100 at once, and answered into a sink. Three kinds, in
// alternating rounds:
//
//   public     an anonymous GET of a public root function (`math.multiply`, run in-process)
//   403        the same of a protected one: refused by the Router
//   +Response  `public`, its answer also made into a `Response` as listen-deno.js does
//
// The full benchmark (bench/server-mode.sh) adds Deno's HTTP server and `fetch` client, which
// cost more than this and vary more from run to run; this isolates what our code can change.
// Numbers printed, never asserted.
//
//   .cache/deno/node_modules/.bin/deno run -A bench/server-mode/stack.mjs [--dist DIR]
//       [--requests N] [--rounds R]
import { framedSink } from "../../js/src/server/http-exchanges.js";

const options = { dist: new URL("../../dist", import.meta.url).pathname, requests: 20000, rounds: 4 };
for (let i = 0; i < Deno.args.length; i += 2) {
  const [key, value] = [Deno.args[i], Deno.args[i + 1]];
  if (!["--dist", "--requests", "--rounds"].includes(key) || value === undefined) {
    console.error(`stack.mjs: unknown argument ${key}`);
    Deno.exit(2);
  }
  options[key.slice(2)] = key === "--dist" ? value : Number(value);
}

const { HyphaCore } = await import(`${options.dist}/hypha-core.mjs`);
const { DenoWebSocketServer } = await import(`${options.dist}/deno-websocket-server.mjs`);
const PORT = 9645;
const core = new HyphaCore({ port: PORT, ServerClass: DenoWebSocketServer, http: { rateLimit: 0 } });
const api = await core.start();
// Each service its own function: hypha-rpc annotates a function object once.
const multiply = () => (a = 1, b = 1) => ({ result: Number(a) * Number(b) });
await api.registerService({ id: "math", config: { visibility: "public" }, multiply: multiply() });
await api.registerService({ id: "vault", multiply: multiply() });
// The driver's side of the server (private: this is a tool for our own code).
const exchanges = core._listener._exchanges;

// What Deno's fetch sends, as listen-deno.js passes it on.
const HEADERS = ["accept", "*/*", "accept-encoding", "gzip,br", "host", `127.0.0.1:${PORT}`, "user-agent", "Deno/2"];
function request(path, toResponse) {
  return new Promise((resolve) => {
    const request = { method: "GET", path, query: "a=9&b=22", headers: HEADERS.slice(), remote: "127.0.0.1:40000", complete: true };
    const writer = {
      complete: (status, headers, body) => resolve(toResponse ? new Response(body, { status, headers }) : { status, body }),
      open: () => resolve({ status: 0 }),
      write() {},
      end() {},
      abort: () => resolve({ status: 0 }),
    };
    exchanges.start(request, framedSink(writer));
  });
}

const KINDS = {
  public: () => request("/default/services/math/multiply", false),
  403: () => request("/default/services/vault/multiply", false),
  "+Response": () => request("/default/services/math/multiply", true),
};
const public1 = await KINDS.public();
const refused = await KINDS[403]();
const text = new TextDecoder().decode(public1.body);
if (public1.status !== 200 || text !== '{"result":198}' || refused.status !== 403) {
  console.error(`stack.mjs: unexpected answers: ${public1.status} ${text}, ${refused.status}`);
  await core.close();
  Deno.exit(1);
}

async function microsPerRequest(kind, total) {
  const started = performance.now();
  for (let done = 0; done < total; done += 100) await Promise.all(Array.from({ length: 100 }, KINDS[kind]));
  return ((performance.now() - started) * 1000) / total;
}

for (const kind of Object.keys(KINDS)) await microsPerRequest(kind, 5000); // warm-up
const results = Object.fromEntries(Object.keys(KINDS).map((kind) => [kind, []]));
for (let round = 0; round < options.rounds; round++) {
  for (const kind of Object.keys(KINDS)) results[kind].push(await microsPerRequest(kind, options.requests));
}
console.log(`µs per request, ${options.requests} requests a round, 100 at once (median; each round)`);
for (const [kind, values] of Object.entries(results)) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`${kind.padEnd(10)} ${median.toFixed(2).padStart(6)}   ${values.map((v) => v.toFixed(2)).join(" ")}`);
}
await core.close();
