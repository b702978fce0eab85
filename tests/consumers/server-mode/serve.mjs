// The seed README's server-mode example, for the tests: `node serve.mjs PORT SECRET` or
// `deno run --allow-net --allow-read --allow-env serve.mjs PORT SECRET`. Prints `ready <port>`
// once listening; on SIGINT/SIGTERM closes the server and lets the process exit by itself.
// Only the import lines differ from hypha-core's example.
import { HyphaCore } from "hypha-core-rs";
import { DenoWebSocketServer, DenoWebSocketClient } from "hypha-core-rs/deno-websocket-server";

const args = globalThis.Deno ? Deno.args : process.argv.slice(2);
const [port, jwtSecret] = args;

const hyphaCore = new HyphaCore({
  url: `http://127.0.0.1:${port}`,
  ServerClass: DenoWebSocketServer,
  WebSocketClass: DenoWebSocketClient,
  jwtSecret,
  defaultService: {
    hello: (name, context) => `Hello, ${name || "World"}! (${context.user.id} in ${context.ws})`,
    whoami: (context) => ({ ws: context.ws, from: context.from, user: context.user.id }),
  },
});
const api = await hyphaCore.start();
await api.registerService({
  id: "calc",
  name: "calc",
  config: { visibility: "public", require_context: true },
  add: (a, b) => a + b,
  caller: (context) => context.user.id,
});
console.log(`ready ${hyphaCore.url}`);

let closing = false;
const stop = async (signal) => {
  if (closing) return;
  closing = true;
  console.log(`closing on ${signal}`);
  await hyphaCore.close();
  console.log("closed");
};
if (globalThis.Deno) {
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
} else {
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}
