// In-page half of the browser benchmark (driven by run.mjs through page.evaluate).
//
// One page measures one implementation: `start(moduleUrl)` imports it and starts a HyphaCore;
// every other function measures something on that instance. Each function returns plain
// numbers (milliseconds unless named otherwise) or throws; the driver turns a throw into a
// "fails: <reason>" cell. Timings use performance.now(), which has 5 µs resolution here because
// the bench server sends COOP/COEP headers (window.crossOriginIsolated; else it is 100 µs).

const now = () => performance.now();

let hc = null; // the HyphaCore under test
let api = null; // its root API
let inTab = null; // `bench` service of the root API, as seen by a hc.connect() client
let workerSvc = null; // `default` service of the worker mounted by setupWorker()
let rawWorker = null; // baseline worker

// Every Worker created in this page, the implementation's own (loadApp) included, so that each
// measurement can terminate what it started and the next one runs on an idle machine.
const workers = [];
const NativeWorker = globalThis.Worker;
globalThis.Worker = class extends NativeWorker {
  constructor(...a) {
    super(...a);
    workers.push(this);
  }
};

/** Terminate the workers created since `mark` (an index into `workers`). */
function terminateSince(mark) {
  for (const w of workers.splice(mark)) w.terminate();
}

/** A Uint8Array of `n` random (incompressible) bytes. */
function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

const SMALL = "hello-bench-0123"; // 16 characters
const BIG = randomBytes(100 * 1024);
const args = { small: SMALL, big: BIG };

function checkEcho(arg, result) {
  if (typeof arg === "string") {
    if (result !== arg) throw new Error(`echo returned ${JSON.stringify(result)}`);
  } else {
    const len = result && (result.byteLength ?? result.length);
    if (len !== arg.byteLength) throw new Error(`echo of ${arg.byteLength} bytes returned ${len} bytes`);
  }
}

function percentile(sorted, p) {
  // nearest rank
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** `n` calls one after the other (after `warm` unmeasured ones): p50, p99, mean in ms. */
async function sequential(call, arg, warm, n) {
  checkEcho(arg, await call(arg));
  for (let i = 0; i < warm; i++) await call(arg);
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = now();
    await call(arg);
    times[i] = now() - t;
  }
  times.sort();
  let sum = 0;
  for (const t of times) sum += t;
  return { p50: percentile(times, 50), p99: percentile(times, 99), mean: sum / n, n };
}

/**
 * `width` lanes each calling in a loop until `total` calls have started or `maxMs` passed:
 * calls/s = completed ÷ elapsed. A short unmeasured round (a tenth) comes first.
 */
async function inFlight(call, arg, total, maxMs, width = 32) {
  const run = async (count, limit) => {
    let started = 0;
    let done = 0;
    const t0 = now();
    const deadline = t0 + limit;
    const lane = async () => {
      while (started < count && now() < deadline) {
        started++;
        await call(arg);
        done++;
      }
    };
    await Promise.all(Array.from({ length: width }, lane));
    const ms = now() - t0;
    return { callsPerS: (done / ms) * 1000, done, ms, width };
  };
  await run(Math.max(width, Math.ceil(total / 10)), maxMs / 10);
  return await run(total, maxMs);
}

/** The page's facts worth recording next to the numbers. */
export function environment() {
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
  };
}

/** The HyphaCore under test (for profile.mjs diagnostics). */
export function instance() {
  return hc;
}

/** import() + new HyphaCore() + start(). */
export async function start(moduleUrl) {
  const t0 = now();
  const mod = await import(moduleUrl);
  const t1 = now();
  hc = new mod.HyphaCore();
  const t2 = now();
  api = await hc.start();
  const t3 = now();
  return { importMs: t1 - t0, constructMs: t2 - t1, startMs: t3 - t2, totalMs: t3 - t0 };
}

/**
 * A cold start carried on until a client can use the server: start(), then setupInTab() (root
 * registers `bench`, a hc.connect() client gets it), then that client's first call answered.
 * Both implementations have then connected a client: the reference's start() connects none,
 * ours connects root's.
 */
export async function startAndServe(moduleUrl) {
  const t0 = now();
  const started = await start(moduleUrl);
  await setupInTab();
  checkEcho(SMALL, await inTab.echo(SMALL));
  return { ...started, readyMs: now() - t0 };
}

/** Root registers `bench`; a hc.connect() client gets it. */
export async function setupInTab() {
  const info = await api.registerService({
    id: "bench",
    name: "bench",
    config: { visibility: "public" },
    echo: (x) => x,
  });
  const id = typeof info === "string" ? info : info && info.id;
  if (!id) throw new Error(`registerService returned ${JSON.stringify(info)}`);
  const client = await hc.connect();
  inTab = await client.getService(id);
  if (!inTab || typeof inTab.echo !== "function") throw new Error(`getService(${id}) has no echo`);
  return { serviceId: id, clientWorkspace: client.config && client.config.workspace };
}

function target(which) {
  if (which === "inTab") return (x) => inTab.echo(x);
  if (which === "worker") return (x) => workerSvc.echo(x);
  if (which === "raw") return rawCall;
  throw new Error(`unknown target ${which}`);
}

/** Sequential p50/p99 of `which` ("inTab" | "worker" | "raw") with arg "small" | "big". */
export async function latency(which, arg, warm, n) {
  return await sequential(target(which), args[arg], warm, n);
}

/** calls/s with `width` calls in flight. */
export async function throughput(which, arg, total, maxMs, width = 32) {
  return await inFlight(target(which), args[arg], total, maxMs, width);
}

/** new Worker → mountWorker resolved (service usable) → first echo answered. */
export async function mountOnce(url) {
  const t0 = now();
  const worker = new Worker(url);
  const mounted = await hc.mountWorker(worker, {});
  const t1 = now();
  if (!mounted || !mounted.service || typeof mounted.service.echo !== "function") {
    throw new Error("mountWorker resolved without the worker's echo service");
  }
  checkEcho(SMALL, await mounted.service.echo(SMALL));
  const t2 = now();
  return { mountMs: t1 - t0, firstCallMs: t2 - t0, service: mounted.service };
}

/** A mounted worker kept for the call measurements. */
export async function setupWorker(url) {
  const { mountMs, firstCallMs, service } = await mountOnce(url);
  workerSvc = service;
  return { mountMs, firstCallMs };
}

/** One mountWorker timing (a fresh worker each time, terminated afterwards). */
export async function mount(url) {
  const mark = workers.length;
  try {
    const { mountMs, firstCallMs } = await mountOnce(url);
    return { mountMs, firstCallMs };
  } finally {
    terminateSince(mark);
  }
}

/** loadApp({type: "web-worker", src}) → first echo answered (the worker is terminated afterwards). */
export async function loadApp(src) {
  const mark = workers.length;
  try {
    const t0 = now();
    const svc = await api.loadApp({ type: "web-worker", src });
    const t1 = now();
    if (!svc || typeof svc.echo !== "function") throw new Error("loadApp resolved without the worker's echo service");
    checkEcho(SMALL, await svc.echo(SMALL));
    const t2 = now();
    return { loadMs: t1 - t0, firstCallMs: t2 - t0 };
  } finally {
    terminateSince(mark);
  }
}

/** A web-worker plugin (ImJoy/Hypha plugin source) exporting `echo`, loaded inline. */
const ECHO_PLUGIN = `<config lang="json">
{"name": "bench echo plugin", "type": "web-worker", "version": "0.1.0"}
</config>
<script lang="javascript">
api.export({ name: "bench echo plugin", echo: (x) => x });
</script>`;

/** loadApp({src: <plugin source>}) → first echo answered: the app template path. */
export async function loadPlugin() {
  const mark = workers.length;
  try {
    const t0 = now();
    const svc = await api.loadApp({ src: ECHO_PLUGIN });
    const t1 = now();
    if (!svc || typeof svc.echo !== "function") throw new Error("loadApp resolved without the plugin's echo service");
    checkEcho(SMALL, await svc.echo(SMALL));
    const t2 = now();
    return { loadMs: t1 - t0, firstCallMs: t2 - t0 };
  } finally {
    terminateSince(mark);
  }
}

/** `n` sequential in-tab small calls (the heap measurement runs GC around this). */
export async function callMany(n) {
  const call = target("inTab");
  const t0 = now();
  for (let i = 0; i < n; i++) await call(SMALL);
  return { ms: now() - t0, n };
}

// ---- baseline: a bare worker postMessage round trip

let rawPending = [];
function rawCall(x) {
  return new Promise((resolve) => {
    rawPending.push(resolve);
    rawWorker.postMessage(x);
  });
}

export function setupRaw(url) {
  rawWorker = new Worker(url);
  rawPending = [];
  rawWorker.onmessage = (event) => rawPending.shift()(event.data); // replies come in order
}

/** new Worker(url) → its first message (raw-worker.js?rpc: after importScripts of hypha-rpc). */
export async function workerBoot(url) {
  const mark = workers.length;
  try {
    const t0 = now();
    const worker = new Worker(url);
    await new Promise((resolve, reject) => {
      worker.onmessage = resolve;
      worker.onerror = (e) => reject(new Error(`worker error: ${e.message}`));
    });
    return { bootMs: now() - t0 };
  } finally {
    terminateSince(mark);
  }
}

/** Terminate every Worker this page started. */
export function cleanupWorkers() {
  terminateSince(0);
}
