// hypha-core-rs in Node or Deno without the DOM lib or @types/node (tsconfig.node16.json):
// the package's types must stand alone. Type-checked only (never run).
import { HyphaCore, type ClientAPI, type MountResult, type WorkerLike } from "hypha-core-rs";
import { DenoWebSocketClient, DenoWebSocketServer } from "hypha-core-rs/deno-websocket-server";

const core = new HyphaCore({ url: "http://localhost:9527", jwt_secret: "secret", wasm: new Uint8Array(8) });
const api = await core.start();
await api.registerService({ id: "echo", config: { visibility: "public" }, echo: (x: unknown) => x });

// A worker-like endpoint (e.g. a MessagePort) is enough for mountWorker.
const handlers: Array<(event: { data: unknown }) => void> = [];
const port: WorkerLike = {
  postMessage(message: unknown) {},
  addEventListener(type: string, listener: (event: any) => void) {
    handlers.push(listener);
  },
  removeEventListener(type: string, listener: (event: any) => void) {},
};
const mounted: MountResult = await core.mountWorker(port, { passive: true });

const client: ClientAPI = await core.connect();
core.on("client_disconnected", ({ id }) => {});
await client.disconnect();

const server = new DenoWebSocketServer(core.wsUrl, { hyphaCore: core });
const listening: { port: number } = await server.listening;
const actualPort: number = listening.port + server.port;
await server.close();
const socket = new DenoWebSocketClient("ws://localhost:9527/ws");

await core.close();
