// A "web worker" on node:worker_threads: a `self` with addEventListener/postMessage over
// parentPort, then hypha-rpc's real setupLocalClient from the built bundle.
import { parentPort, workerData } from "node:worker_threads";

const target = new EventTarget();
parentPort.on("message", (data) => target.dispatchEvent(new MessageEvent("message", { data })));
globalThis.self = globalThis;
globalThis.addEventListener = target.addEventListener.bind(target);
globalThis.removeEventListener = target.removeEventListener.bind(target);
globalThis.postMessage = (message, transfer) => parentPort.postMessage(message, transfer);

const { hyphaWebsocketClient } = await import(workerData.dist);
const api = await hyphaWebsocketClient.setupLocalClient({ enable_execution: false });
await api.export({
  name: "worker app",
  greet: (name) => `hello ${name} from the worker`,
  whoami: () => ({ workspace: api.config.workspace, client_id: api.config.client_id, user: api.config.user.id }),
  callHost: async (name) => await api.hello(name),
});
