// Browser scenarios, run one by one by js/test/browser.test.mjs through the DevTools protocol.
// Each returns a JSON-able summary the Node side asserts on.
import { HyphaCore } from "/dist/hypha-core.mjs";

const APP = new URL("./app.html", import.meta.url).href;
const WORKER = "/js/test-fixtures/browser/worker.js"; // relative to the page

let core = null;
let api = null;

async function ensure() {
  if (!core) {
    core = new HyphaCore({ defaultService: { hello: (name, ctx) => `hello ${name} as ${ctx.from}` } });
    api = await core.start();
  }
  return { core, api };
}

function appHtml() {
  return `<!doctype html><html><body><p>inline</p>
<script src="${location.origin}/node_modules/hypha-rpc/dist/hypha-rpc-websocket.min.js"></script>
<script>
hyphaWebsocketClient.setupLocalClient({ enable_execution: false }).then((api) =>
  api.export({ name: "inline app", greet: (n) => "hi " + n + " from srcdoc", origin: () => String(self.origin) }));
</script></body></html>`;
}

export const scenarios = {
  async start() {
    const { core, api } = await ensure();
    return {
      url: core.url,
      environment: core.environment,
      host: core.host,
      id: api.id,
      baseUrl: core.baseUrl,
      hasCreateWindow: typeof api.createWindow === "function",
    };
  },

  async htmlWindow() {
    const { api } = await ensure();
    const svc = await api.createWindow({ src: appHtml(), name: "inline", type: "iframe" });
    const frames = [...document.querySelectorAll("iframe")].filter((f) => f.hasAttribute("srcdoc"));
    const frame = frames[frames.length - 1];
    return {
      greet: await svc.greet("page"),
      origin: await svc.origin(),
      sandbox: frame.getAttribute("sandbox"),
      window: (await api.getWindow("inline"))?.name,
    };
  },

  async urlWindowIntoElement() {
    const { api } = await ensure();
    const pane = document.createElement("div");
    pane.id = "pane-1";
    document.getElementById("panes").appendChild(pane);
    const svc = await api.createWindow({ src: APP, window_id: "pane-1", name: "in-pane" });
    return {
      greet: await svc.greet("page"),
      whoami: await svc.whoami(),
      iframeInPane: pane.querySelectorAll("iframe").length,
    };
  },

  async addWindowEvent() {
    const { core, api } = await ensure();
    const seen = [];
    const handler = (config) => {
      seen.push({ window_id: config.window_id, workspace: config.workspace, src: config.src });
      const div = document.createElement("div");
      div.id = config.window_id;
      document.getElementById("panes").appendChild(div);
    };
    core.on("add_window", handler);
    try {
      const svc = await api.createWindow({ src: APP, name: "via-event" });
      return { seen, greet: await svc.greet("event") };
    } finally {
      core.off("add_window", handler);
    }
  },

  async workerApp() {
    const { api } = await ensure();
    const svc = await api.loadApp({ type: "web-worker", src: WORKER, name: "worker-app" });
    const again = await api.getApp({ name: "worker-app" });
    return { greet: await svc.greet("page"), whoami: await svc.whoami(), sameApp: (await again.greet("x")) === "hello x from the worker" };
  },

  async hostCallsFromAnIframe() {
    const { api } = await ensure();
    const svc = await api.createWindow({ src: APP, type: "iframe", name: "caller" });
    const me = await svc.whoami();
    const alerts = [];
    const original = window.alert;
    window.alert = (m) => alerts.push(m);
    let forged;
    try {
      await svc.callAlert("from the app");
      try {
        forged = await svc.forgeHostCall();
      } catch (e) {
        forged = `refused: ${e.message || e}`;
      }
    } finally {
      window.alert = original;
    }
    return {
      me,
      hello: await svc.callHello("app"),
      nested: await svc.openChild(APP),
      alerts,
      forged,
    };
  },

  async mountIframe() {
    const { core } = await ensure();
    const iframe = document.createElement("iframe");
    iframe.src = APP;
    document.body.appendChild(iframe);
    const mounted = await core.mountIframe(iframe, { workspace: "ws-mounted", client_id: "mounted-1", timeout: 15000 });
    return {
      workspace: mounted.workspace,
      client_id: mounted.client_id,
      greet: await mounted.service.greet("mount"),
      whoami: await mounted.service.whoami(),
      sourceIsWindow: core.connections["ws-mounted/mounted-1"].source === iframe.contentWindow,
    };
  },

  async forgedPostMessage() {
    // A frame nobody mounted posts bridge messages naming a mounted client: nothing happens.
    const { core } = await ensure();
    const before = core.server.connectionCount();
    const rogue = document.createElement("iframe");
    rogue.srcdoc = `<script>
      parent.postMessage({ type: "connect", from: "mounted-1", workspace: "ws-mounted" }, "*");
      parent.postMessage({ type: "message", from: "mounted-1", workspace: "ws-mounted", data: "{}" }, "*");
    </script>`;
    document.body.appendChild(rogue);
    await new Promise((r) => setTimeout(r, 300));
    return { before, after: core.server.connectionCount() };
  },

  async close() {
    const running = (await ensure()).core;
    const clients = Object.keys(running.connections).length;
    await running.close();
    const stopped = running.server === null && HyphaCore.servers[running.url] === undefined;
    core = null;
    api = null;
    // A new instance on the same url, then the old one again on another port.
    const again = await ensure();
    const twin = new HyphaCore({ port: 8181 });
    const twinApi = await twin.start();
    await twin.close();
    return { clients, stopped, restarted: again.api.id === "root" && twinApi.id === "root" };
  },
};

export async function run(name) {
  return await scenarios[name]();
}
