// hypha-core 0.20.86's own Deno server for the HTTP benchmark (bench/http.sh), started the way
// its test/performance/ scripts and test/deno/ tests do: `new HyphaCore({url, ServerClass:
// DenoWebSocketServer, WebSocketClass: DenoWebSocketClient, jwtSecret})`, then `start()`.
// As its users do, the benchmark service is registered in this same process, on the root api
// that start() returns (so there is no WebSocket hop to a provider: calls stay in-process).
//
// Usage: deno run --allow-all --no-lock --config <pkg>/deno.json bench/http/deno-server.mjs <pkg> <port> <jwtSecret>
// Prints `DENO_READY <workspace>` on stdout once the service is registered.
const [pkgDir, port, jwtSecret] = Deno.args;
const { HyphaCore } = await import(`file://${pkgDir}/src/hypha-core.js`);
const { DenoWebSocketServer, DenoWebSocketClient } = await import(`file://${pkgDir}/src/deno-websocket-server.js`);

const hyphaCore = new HyphaCore({
  url: `http://127.0.0.1:${port}`,
  ServerClass: DenoWebSocketServer,
  WebSocketClass: DenoWebSocketClient,
  jwtSecret,
});
const api = await hyphaCore.start();
await api.registerService({
  id: "bench",
  config: { visibility: "public" },
  multiply: (a, b) => a * b,
  echo: (data) => data,
});
console.log(`DENO_READY ${api.config.workspace}`);

const stop = () => {
  try {
    hyphaCore.close();
  } finally {
    Deno.exit(0);
  }
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
