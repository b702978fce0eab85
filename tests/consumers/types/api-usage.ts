// The main API of hypha-core-rs as a browser/bundler consumer uses it. Type-checked only (never
// run): each `@ts-expect-error` line must be an error, so the types stay as narrow as the code.
import {
  HyphaCore,
  connectToServer,
  hyphaWebsocketClient,
  type AppInfo,
  type CallerContext,
  type ClientAPI,
  type Connection,
  type HostCallContext,
  type HyphaAPI,
  type HyphaCoreConfig,
  type MountResult,
  type RemoteService,
  type RootAPI,
  type ServiceInfo,
  type TokenClaims,
} from "hypha-core-rs";

interface Calculator extends RemoteService {
  add(a: number, b: number): Promise<number>;
}

const config: HyphaCoreConfig = {
  port: 9527,
  baseUrl: "https://example.org/hypha/",
  jwtSecret: "secret",
  wasm: new URL("https://example.org/hypha/hypha_core_bg.wasm"),
  defaultService: {
    // The caller's context comes last; it can be typed.
    whoAmI: (context: HostCallContext) => context.user.id,
    greet: (name, context) => `Hello ${name} from ${context.from}`,
    settings: { theme: "dark" }, // accepted, not offered (only functions are)
  },
};
// @ts-expect-error `ports` is not an option
new HyphaCore({ ports: 1 });

const core = new HyphaCore(config);
const url: string = core.url;
const wsUrl: string = core.wsUrl;
const running: HyphaCore | undefined = HyphaCore.servers[url];

// ---- events
core.on("service_added", (info) => {
  const id: string = info.id;
});
core.on("client_connected", ({ workspace, client_id, user_id }) => {
  const who: string = `${workspace}/${client_id} (${user_id})`;
});
core.on("add_window", (windowConfig) => {
  const elem = document.createElement("div");
  elem.id = windowConfig.window_id;
  document.body.appendChild(elem);
});
core.once("connection_ready", (connection: Connection | undefined) => {});
core.on("my-event", (data: { n: number }) => {});
const disconnected = core.waitFor("client_disconnected", 5000);
// @ts-expect-error client_ready hands over a service, not a string
core.on("client_ready", (service: string) => {});

// ---- the root API
const api: RootAPI = await core.start();
if (core.api !== null) {
  const same: RootAPI = core.api;
}
// @ts-expect-error start() takes no workspace
await core.start({ workspace: "w" });
// @ts-expect-error the root client has no disconnect: use close()
await api.disconnect();

const info: ServiceInfo = await api.registerService(
  {
    id: "calculator",
    name: "Calculator",
    config: { visibility: "public", require_context: true },
    add: (a: number, b: number, context?: CallerContext) => a + b,
  },
  { overwrite: true },
);
const calc = (await api.getService("calculator")) as Calculator | null;
if (calc) {
  const sum: number = await calc.add(1, 2);
}
await api.getService({ id: "calculator" }, { mode: "random", timeout: 5 });
// @ts-expect-error this server has no "default" mode
await api.getService("calculator", { mode: "default" });
const services: ServiceInfo[] = await api.listServices({ workspace: "default", type: "generic" });
await api.unregisterService(info.id);

const token: string = await api.generateToken({ workspace: "w1", permission: "read_write", expires_in: 60 });
const claims: TokenClaims = core.verifyToken(token);
const scope: string = claims.scope;

const echoed: { a: number } = api.echo({ a: 1 });
api.log("plain", "console");
await api.emit("my-event", { n: 1 });
api.on("service_removed", (removed) => {
  const id: string = removed.id;
});

// ---- apps and windows
const app = await api.loadApp({ src: "https://example.org/app.html", name: "app", passive: false });
const plugin = await api.loadApp("<config lang=\"json\">{}</config><script>api.export({})</script>");
const worker = await api.loadApp({ src: "worker.js", type: "web-worker", worker_type: "module" });
const apps: AppInfo[] = await api.listApps();
const byName: RemoteService | null = await api.getApp({ name: "app" });
const closed: boolean = await api.closeApp("app");
const win = await api.getWindow({ id: "window-1" });
if (win) {
  const winService: RemoteService | null = win.service;
}
const created = await api.createWindow({ src: "<p>hello</p>", window_id: "holder" });

// ---- mounting a worker or an iframe
const w = new Worker("client-worker.js");
const mounted: MountResult = await core.mountWorker(w, {
  workspace: "w1",
  client_id: "worker-1",
  user_info: { id: "alice", email: "alice@example.org" },
  timeout: 10000,
});
const conn: number | null = mounted.connection.conn;
w.terminate();
const iframe = document.createElement("iframe");
await core.mountIframe(iframe, { passive: true });
if (iframe.contentWindow) await core.mountIframe(iframe.contentWindow);
// @ts-expect-error a worker needs postMessage and event listeners
await core.mountWorker({ postMessage() {} });

// ---- clients
const client: ClientAPI = await core.connect({ workspace: "w1", token, client_id: "c1" });
const ws: string = client.config.workspace;
const remote = (await client.getService("default/calculator")) as Calculator;
const defaults: ServiceInfo[] = await client.listApps();
// @ts-expect-error a client's listApps lists default services, not AppInfo
const notApps: AppInfo[] = await client.listApps();
const fromClient = await client.loadApp({ src: "https://example.org/app.html" });
const answer: boolean = await client.confirm("ok?");
await client.export({ setup: async () => {} });
client.emit({ type: "hello", to: "w1/c2", text: "hi" });
await client.disconnect();

// Both are HyphaAPIs.
const all: HyphaAPI[] = [api, client];
for (const each of all) {
  await each.generateToken();
  const listed: AppInfo[] | ServiceInfo[] = await each.listApps();
}

// ---- sockets and shutdown
for (const [key, socket] of Object.entries(core.getWebsockets())) {
  if (socket.readyState === core.WebSocketClass.OPEN) socket.close(1000, key);
}
await core.forceDisconnect("w1", "c1", 1000, "bye");
await core.close();
await core.reset();
api.close();

// ---- hypha-rpc re-exports: with a running HyphaCore as the server
const direct = await connectToServer({ server: core, client_id: "direct" });
await direct.registerService({ id: "x", ping: () => "pong" });
await hyphaWebsocketClient.connectToServer({ server_url: core.url, WebSocketClass: core.WebSocketClass });
