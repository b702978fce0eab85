// The service provider for the HTTP benchmark (bench/http.sh), the same for every WebSocket
// server: an ordinary npm hypha-rpc client connects to the server given on the command line,
// registers `bench` with multiply and echo, and prints `PROVIDER_READY <workspace>` on stdout,
// so the harness calls `<base>/<workspace>/services/bench/{multiply,echo}`. It then stays
// connected until it is killed (SIGTERM/SIGINT).
//
// Usage: node bench/http/provider.mjs <server_url>
import { hyphaWebsocketClient } from "hypha-rpc";

if (typeof globalThis.WebSocket === "undefined") {
  // Node 20 has no global WebSocket; hypha-rpc picks up the global one.
  globalThis.WebSocket = (await import("ws")).default;
}

const serverUrl = process.argv[2];
if (!serverUrl) {
  console.error("usage: node bench/http/provider.mjs <server_url>");
  process.exit(2);
}

let server;
try {
  server = await hyphaWebsocketClient.connectToServer({ server_url: serverUrl, method_timeout: 30, logger: null });
  await server.registerService({
    id: "bench",
    config: { visibility: "public" },
    multiply: (a, b) => a * b,
    echo: (data) => data,
  });
} catch (e) {
  console.error(`[provider] ${e?.stack || e}`);
  process.exit(1);
}
console.log(`PROVIDER_READY ${server.config.workspace}`);

const stop = async () => {
  try {
    await Promise.race([server.disconnect(), new Promise((r) => setTimeout(r, 1000))]);
  } finally {
    process.exit(0);
  }
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
