// A compute web worker for Hypha Core: it connects to the HyphaCore of the page that started it
// (hypha-rpc's setupLocalClient, over postMessage) and exports number-crunching functions.
// hypha-rpc's UMD build comes from the local server (global `hyphaWebsocketClient`); the path is
// relative to this script, so the demo also works under a sub-path.
importScripts("../vendor/hypha-rpc/hypha-rpc-websocket.min.js");

const startedAt = new Date().toISOString();
let callCount = 0;

function requireInteger(name, n, max) {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(n)}`);
  }
  if (max !== undefined && n > max) throw new Error(`${name} must be at most ${max}, got ${n}`);
}

const functions = {
  /** The n-th Fibonacci number (exact up to n = 78). */
  fibonacci(n) {
    requireInteger("n", n, 1476);
    let a = 0;
    let b = 1;
    for (let i = 0; i < n; i++) [a, b] = [b, a + b];
    return a;
  },

  /** n! (a float beyond 170!, so at most 170). */
  factorial(n) {
    requireInteger("n", n, 170);
    let result = 1;
    for (let i = 2; i <= n; i++) result *= i;
    return result;
  },

  isPrime(n) {
    if (typeof n !== "number" || !Number.isInteger(n)) throw new Error(`n must be an integer, got ${JSON.stringify(n)}`);
    if (n < 2) return false;
    if (n < 4) return true;
    if (n % 2 === 0 || n % 3 === 0) return false;
    for (let i = 5; i * i <= n; i += 6) if (n % i === 0 || n % (i + 2) === 0) return false;
    return true;
  },

  /** Statistics of an array of numbers: count, sum, mean, min, max, sorted. */
  processArray(arr) {
    if (!Array.isArray(arr) || arr.length === 0 || !arr.every((x) => typeof x === "number" && Number.isFinite(x))) {
      throw new Error("processArray needs a non-empty array of finite numbers");
    }
    const sum = arr.reduce((s, x) => s + x, 0);
    return {
      count: arr.length,
      sum,
      mean: sum / arr.length,
      min: Math.min(...arr),
      max: Math.max(...arr),
      sorted: [...arr].sort((x, y) => x - y),
    };
  },

  /**
   * A CPU-bound loop of `iterations` steps (at most 5e8). `onProgress(fraction)`, if given, is
   * called back in the caller about ten times.
   */
  async heavyComputation(iterations, onProgress) {
    requireInteger("iterations", iterations, 5e8);
    const started = performance.now();
    const chunk = Math.max(1, Math.ceil(iterations / 10));
    let acc = 0;
    for (let done = 0; done < iterations; ) {
      const end = Math.min(iterations, done + chunk);
      for (let i = done; i < end; i++) acc += Math.sqrt(i) * Math.sin(i);
      done = end;
      if (typeof onProgress === "function") await onProgress(done / iterations);
    }
    return { iterations, result: acc, ms: Math.round(performance.now() - started) };
  },

  getWorkerInfo() {
    const api = self.api || {};
    const config = api.config || {};
    return {
      type: "web-worker",
      isWorker: typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope,
      hasDocument: typeof document !== "undefined",
      workspace: config.workspace,
      client_id: config.client_id,
      userAgent: self.navigator ? self.navigator.userAgent : null,
      hardwareConcurrency: self.navigator ? self.navigator.hardwareConcurrency : null,
      startedAt,
      callCount,
    };
  },
};

const counted = {};
for (const [name, fn] of Object.entries(functions)) {
  counted[name] = function (...args) {
    callCount += 1;
    return fn.apply(this, args);
  };
}

hyphaWebsocketClient
  .setupLocalClient({ enable_execution: false })
  .then(async (api) => {
    self.api = api;
    await api.export({
      name: "Compute worker",
      description: "Number crunching in a web worker: fibonacci, factorial, isPrime, processArray, heavyComputation",
      ...counted,
    });
  })
  .catch((e) => console.warn("compute worker: setup failed:", e));
