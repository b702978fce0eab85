// The ceiling of hypha-core's performance scripts on this machine: a bare Deno.serve handler
// that answers {"result":198} at once, loaded as quick-max-test and single-instance-benchmark
// load their server (fetch from the same process, batches of N at once). No server can beat it
// in that harness; bench/server-mode.sh's req/s read against it. Prints req/s per batch size.
//
//   .cache/deno/node_modules/.bin/deno run -A bench/server-mode/ceiling.js
const server = Deno.serve({ port: 9642, hostname: "127.0.0.1", onListen() {} }, () =>
  new Response('{"result":198}', { headers: { "content-type": "application/json" } }));
const url = "http://localhost:9642/default/services/x/math.multiply?a=9&b=22";
async function burst(total, concurrency) {
  const t0 = performance.now();
  let done = 0;
  while (done < total) {
    const n = Math.min(concurrency, total - done);
    await Promise.all(Array.from({ length: n }, () => fetch(url).then((r) => r.json())));
    done += n;
  }
  return total / ((performance.now() - t0) / 1000);
}
await burst(2000, 50); // warm-up
for (const [total, c] of [[1000, 10], [1000, 50], [2000, 100], [5000, 200], [10000, 500], [20000, 1000], [5000, 50], [10000, 100]]) {
  console.log(`${total} req, ${c} at once: ${(await burst(total, c)).toFixed(0)} req/s`);
}
await server.shutdown();
