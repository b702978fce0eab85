// The Hypha Core demo: a HyphaCore server running in this page (Rust compiled to WebAssembly),
// app windows the user can move and close, and a live view of workspaces, clients and services.
//
// Exposed for scripts and tests: window.hyphaCore, window.api (the root API),
// window.hyphaCorePromise (resolves with hyphaCore once started) and window.demo.
import { HyphaCore } from "./dist/hypha-core.mjs";

const here = (path) => new URL(path, document.baseURI).href;

/** The example apps of the menu. */
const EXAMPLES = [
  {
    id: "standalone-iframe",
    name: "Standalone iframe app",
    description: "an HTML page that exports functions with setupLocalClient",
    src: here("./apps/standalone-iframe.html"),
  },
  {
    id: "compute-worker",
    name: "Compute worker",
    description: "a web worker: fibonacci, factorial, isPrime, processArray…",
    src: here("./apps/compute-worker.js"),
  },
  {
    id: "hello-worker",
    name: "Hello worker",
    description: "web-worker plugin: an .imjoy.html file whose script runs in a Web Worker",
    src: here("./apps/hello-worker.imjoy.html"),
  },
  {
    id: "hello-window",
    name: "Hello window",
    description: "window plugin: an .imjoy.html file with <window> and <style> blocks",
    src: here("./apps/hello-window.imjoy.html"),
  },
  {
    id: "background-iframe",
    name: "Background iframe",
    description: "iframe plugin: hidden, with a YAML config and tagged scripts",
    src: here("./apps/background-iframe.imjoy.html"),
  },
  {
    id: "hello-python",
    name: "Hello Python",
    description: "web-python plugin: Python in Pyodide, offline (the first load boots Python: seconds)",
    src: here("./apps/hello-python.imjoy.html"),
  },
  {
    id: "legacy-imjoy",
    name: "Legacy ImJoy app",
    description: "legacy app: written for imjoy-rpc, bridged into Hypha",
    src: here("./apps/legacy-imjoy-app.html"),
  },
];

/** Example arguments shown in a service console, by function name. */
const ARG_HINTS = {
  fibonacci: "[30]",
  factorial: "[12]",
  isPrime: "[7919]",
  processArray: "[[3, 1, 4, 1, 5, 9, 2, 6]]",
  heavyComputation: '[2000000, "$callback"]',
  getWorkerInfo: "[]",
  greet: '["world"]',
  add: "[2, 3]",
  setMessage: '["hello from the demo"]',
  getMessage: "[]",
  getInfo: "[]",
  hello: '["world"]',
  stats: "[[3, 1, 4, 1, 5, 9, 2, 6]]",
  divide: "[1, 0]",
};

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

const isWorkerScript = (src) => /\.(m?js)([?#].*)?$/i.test(src.trim());
const isHtml = (src) => typeof src === "string" && src.trim().startsWith("<");

// ------------------------------------------------------------------------- status and events

function setStatus(text, kind = "running") {
  const status = $("status");
  status.textContent = text;
  status.title = text;
  status.className = `status ${kind}`;
}

const MAX_EVENTS = 80;
function logEvent(type, detail) {
  const list = $("events");
  const time = new Date().toLocaleTimeString();
  list.prepend(el("li", { dataset: { event: type } }, `${time} ${type} ${detail || ""}`));
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

// ------------------------------------------------------------------------- windows

const panels = new Set();
let zTop = 10;
let opened = 0;

function bringToFront(panel) {
  panel.el.style.zIndex = String(++zTop);
}

/** A movable, closable window on the desktop. `bodyId` becomes the id of its content element. */
function createPanel({ title, kind = "window", bodyId }) {
  $("desktop-hint")?.remove();
  const titleText = el("span", { className: "title-text", title }, title);
  const closeButton = el("button", { type: "button", className: "close", title: "Close", "aria-label": "Close" }, "×");
  const bar = el("div", { className: "panel-title" }, titleText, el("span", { className: "kind" }, kind), closeButton);
  const body = el("div", { className: "panel-body", id: bodyId });
  const root = el("section", { className: "panel", dataset: { kind }, role: "dialog", "aria-label": title }, bar, body);
  const desktop = $("desktop");
  const step = opened++ % 8;
  root.style.left = `${16 + step * 56}px`;
  root.style.top = `${16 + step * 40}px`;
  const panel = {
    el: root,
    body,
    kind,
    worker: null,
    service: null,
    setTitle(text) {
      titleText.textContent = text;
      titleText.title = text;
      root.setAttribute("aria-label", text);
    },
    setStatus(text, isError = false) {
      let line = root.querySelector(".panel-status");
      if (!line) {
        line = el("div", { className: "panel-status", role: "status" });
        body.prepend(line);
      }
      line.textContent = text;
      line.classList.toggle("error", isError);
    },
    clearStatus() {
      root.querySelector(".panel-status")?.remove();
    },
  };
  root._panel = panel;
  panels.add(panel);
  desktop.append(root);
  bringToFront(panel);
  root.addEventListener("pointerdown", () => bringToFront(panel));
  closeButton.addEventListener("click", () => closePanel(panel));
  makeDraggable(panel, bar);
  return panel;
}

function makeDraggable(panel, handle) {
  let drag = null;
  handle.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || event.target.closest("button")) return;
    drag = {
      id: event.pointerId,
      x: event.clientX,
      y: event.clientY,
      left: panel.el.offsetLeft,
      top: panel.el.offsetTop,
    };
    handle.setPointerCapture(event.pointerId);
    document.body.classList.add("dragging");
    event.preventDefault();
  });
  handle.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const desktop = $("desktop");
    const maxLeft = Math.max(0, desktop.clientWidth - 60);
    const maxTop = Math.max(0, desktop.clientHeight - 30);
    const left = Math.min(maxLeft, Math.max(-panel.el.offsetWidth + 60, drag.left + event.clientX - drag.x));
    const top = Math.min(maxTop, Math.max(0, drag.top + event.clientY - drag.y));
    panel.el.style.left = `${left}px`;
    panel.el.style.top = `${top}px`;
  });
  const end = (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    drag = null;
    document.body.classList.remove("dragging");
  };
  handle.addEventListener("pointerup", end);
  handle.addEventListener("pointercancel", end);
}

/** The connection (`hyphaCore.connections` entry) whose port is `target` (a Worker or window). */
function connectionOf(target) {
  if (!target || !window.hyphaCore) return null;
  return Object.values(window.hyphaCore.connections).find((c) => c.source === target) || null;
}

/** Close a window: stop its worker or remove its iframe, and disconnect its client. */
async function closePanel(panel) {
  if (!panels.has(panel)) return;
  panels.delete(panel);
  const iframe = panel.body.querySelector("iframe");
  const connection = connectionOf(panel.worker || (iframe && iframe.contentWindow));
  if (panel.worker) panel.worker.terminate();
  if (panel.appId) await window.api.closeApp({ id: panel.appId }).catch(() => {});
  // Remove the iframe first: once it is gone, its client cannot reconnect.
  panel.el.remove();
  if (connection && connection.conn !== null && connection.conn !== undefined) {
    try {
      await window.hyphaCore.forceDisconnect(connection.workspace, connection.client_id, 1000, "window closed");
    } catch (e) {
      // already disconnected
    }
  }
  scheduleRender();
}

/** A small form to call the functions of an app's service. */
function renderServiceConsole(panel, service) {
  panel.service = service;
  const functions = Object.keys(service)
    .filter((key) => typeof service[key] === "function" && !key.startsWith("_"))
    .sort();
  if (functions.length === 0) return;
  const select = el("select", { "aria-label": "Function" }, ...functions.map((f) => el("option", { value: f }, f)));
  const args = el("input", { type: "text", "aria-label": "Arguments (JSON array)", spellcheck: "false" });
  const result = el("pre", { className: "result", "aria-live": "polite" });
  const button = el("button", { type: "submit" }, "Call");
  const hint = () => {
    args.value = ARG_HINTS[select.value] || "[]";
  };
  select.addEventListener("change", hint);
  hint();
  const form = el("form", { className: "console", autocomplete: "off" }, select, args, button, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = select.value;
    let parsed;
    try {
      parsed = args.value.trim() ? JSON.parse(args.value) : [];
      if (!Array.isArray(parsed)) parsed = [parsed];
    } catch (e) {
      result.className = "result error";
      result.textContent = `arguments must be a JSON array: ${e.message}`;
      return;
    }
    const progress = [];
    // "$callback" passes a function: the app calls back into this page.
    const callArgs = parsed.map((a) =>
      a === "$callback"
        ? (...values) => {
            progress.push(values.length === 1 ? values[0] : values);
            result.className = "result";
            result.textContent = `callback: ${JSON.stringify(progress[progress.length - 1])}`;
          }
        : a,
    );
    button.disabled = true;
    result.className = "result";
    result.textContent = `${name}(…) running`;
    const started = performance.now();
    try {
      const value = await service[name](...callArgs);
      const ms = (performance.now() - started).toFixed(1);
      result.textContent = `${name} → ${JSON.stringify(value)}  (${ms} ms${progress.length ? `, ${progress.length} callbacks` : ""})`;
    } catch (e) {
      result.className = "result error";
      result.textContent = `${name} failed: ${(e && e.message) || e}`;
    } finally {
      button.disabled = false;
    }
  });
  panel.el.append(form);
}

/** `add_window`: an app (or the root API) opens a window; give it a container with that id. */
function onAddWindow(config) {
  const title = config.name || (isHtml(config.src) ? "HTML window" : config.src) || config.window_id;
  createPanel({ title, kind: config.type === "web-worker" ? "worker" : "window", bodyId: config.window_id });
}

/** `remove_window`: an app was closed through the API; close its panel. */
function onRemoveWindow(info) {
  for (const panel of panels) {
    if (panel.body.id === info.id || panel.body.querySelector(`iframe[id="${CSS.escape(info.id || "")}"]`)) {
      closePanel(panel);
    }
  }
}

/** The window that holds the iframe of the client that registered `service`. */
function panelOfService(service) {
  const key = String(service && service.id ? service.id : "").split(":")[0];
  const connection = window.hyphaCore.connections[key];
  if (!connection || !connection.source) return null;
  for (const panel of panels) {
    const iframe = panel.body.querySelector("iframe");
    if (iframe && iframe.contentWindow === connection.source) return panel;
  }
  return null;
}

// ------------------------------------------------------------------------- loading apps

/** Load the app at `src`: a web worker for .js/.mjs, a window for anything else. */
async function loadApp(src, options = {}) {
  src = String(src || "").trim();
  if (!src) throw new Error("no app URL given");
  if (!isHtml(src)) src = new URL(src, document.baseURI).href;
  if (!isHtml(src) && isWorkerScript(src)) return await openWorker(src, options);
  // A page that never registers a service fails after `timeout` (its window stays open).
  const service = await window.api.loadApp({ src, name: options.name, timeout: options.timeout || 30000 });
  if (!service) return service;
  let panel = panelOfService(service);
  if (!panel) {
    // An app without a window of its own (a web-worker or hidden iframe plugin): a console
    // panel; closing it stops the app.
    panel = createPanel({ title: options.name || service.name || src, kind: "app" });
    panel.el.style.height = "auto";
    panel.appId = service.id;
    panel.setStatus(`client ${String(service.id).split(":")[0]}`);
  }
  if (service.name && !options.name) panel.setTitle(service.name);
  renderServiceConsole(panel, service);
  return service;
}

let workerCount = 0;

/** Start a web worker and mount it as a client of `default`; its window has a console. */
async function openWorker(src, options = {}) {
  const name = options.name || src.split("/").pop();
  const panel = createPanel({ title: name, kind: "worker" });
  panel.el.style.height = "auto";
  panel.setStatus("starting the worker…");
  const worker = new Worker(src, /\.mjs([?#].*)?$/i.test(src) ? { type: "module" } : undefined);
  panel.worker = worker;
  const failed = new Promise((_, reject) => {
    worker.addEventListener("error", (event) => {
      event.preventDefault();
      reject(new Error(`the worker failed to start: ${event.message || "cannot load " + src}`));
    });
  });
  try {
    const mounted = await Promise.race([
      window.hyphaCore.mountWorker(worker, {
        workspace: "default",
        client_id: `worker-${++workerCount}-${Math.random().toString(36).slice(2, 8)}`,
        timeout: options.timeout || 30000,
      }),
      failed,
    ]);
    const service = mounted.service;
    if (service && service.name && !options.name) panel.setTitle(service.name);
    panel.setStatus(`client ${mounted.workspace}/${mounted.client_id}`);
    renderServiceConsole(panel, service);
    return service;
  } catch (e) {
    worker.terminate();
    panel.setStatus(e.message || String(e), true);
    throw e;
  }
}

async function loadFromUi(src, name) {
  try {
    setStatus(`loading ${name || src}…`, "starting");
    await loadApp(src, { name });
    setStatus(`running: ${window.hyphaCore.url}`);
  } catch (e) {
    console.warn("loading the app failed:", e);
    setStatus(`could not load ${name || src}: ${(e && e.message) || e}`, "error");
  }
}

// ------------------------------------------------------------------------- side panel

const services = new Map(); // id → service info
const collapsed = new Set(); // workspaces the user folded

function onServiceAdded(info) {
  if (!info || typeof info.id !== "string" || info.id.endsWith(":built-in")) return;
  services.set(info.id, info);
  logEvent("service_added", info.id);
  scheduleRender();
}

function onServiceRemoved(info) {
  if (!info || typeof info.id !== "string") return;
  services.delete(info.id);
  logEvent("service_removed", info.id);
  scheduleRender();
}

function onClientConnected(info) {
  logEvent("client_connected", info && info.id);
  scheduleRender();
  scheduleReconcile();
}

function onClientDisconnected(info) {
  const id = info && info.id;
  logEvent("client_disconnected", id);
  if (id) {
    for (const key of [...services.keys()]) if (key.startsWith(`${id}:`)) services.delete(key);
  }
  scheduleRender();
}

let reconcileTimer = null;
/** Ask the server too (root sees public services of every workspace and all of `default`). */
function scheduleReconcile() {
  if (reconcileTimer !== null || !window.api) return;
  reconcileTimer = setTimeout(async () => {
    reconcileTimer = null;
    const api = window.api;
    if (!api) return;
    try {
      const listed = await api.listServices({ workspace: "*" });
      const ids = new Set();
      for (const info of listed) {
        if (!info || typeof info.id !== "string" || info.id.endsWith(":built-in")) continue;
        ids.add(info.id);
        if (!services.has(info.id)) services.set(info.id, info);
      }
      // `default` is listed completely: what is not there anymore is gone.
      for (const key of [...services.keys()]) if (key.startsWith("default/") && !ids.has(key)) services.delete(key);
      scheduleRender();
    } catch (e) {
      if (window.api === api) console.warn("listServices failed:", e);
    }
  }, 30);
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    renderTree();
  });
}

function visibilityOf(info) {
  return (info.config && info.config.visibility) || "protected";
}

function renderTree() {
  const core = window.hyphaCore;
  const workspaces = new Map(); // ws → Map(clientKey → {connected, services: []})
  const ensure = (ws, clientKey) => {
    if (!workspaces.has(ws)) workspaces.set(ws, new Map());
    const clients = workspaces.get(ws);
    if (!clients.has(clientKey)) clients.set(clientKey, { connected: false, services: [] });
    return clients.get(clientKey);
  };
  if (core) {
    for (const [key, c] of Object.entries(core.connections)) {
      if (c.conn === null || c.conn === undefined) continue;
      ensure(c.workspace || key.split("/")[0], key).connected = true;
    }
  }
  for (const info of services.values()) {
    const clientKey = info.id.split(":")[0];
    const ws = (info.config && info.config.workspace) || clientKey.split("/")[0];
    ensure(ws, clientKey).services.push(info);
  }
  const tree = $("tree");
  tree.replaceChildren();
  const names = [...workspaces.keys()].sort((a, b) => (a === "default" ? -1 : b === "default" ? 1 : a.localeCompare(b)));
  let clientCount = 0;
  let serviceCount = 0;
  for (const ws of names) {
    const clients = workspaces.get(ws);
    const keys = [...clients.keys()].sort();
    let wsServices = 0;
    const items = keys.map((key) => {
      const client = clients.get(key);
      if (client.connected) clientCount += 1;
      wsServices += client.services.length;
      const cid = key.split("/").slice(1).join("/");
      const list = client.services
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((info) =>
          el(
            "li",
            { className: "service", dataset: { serviceId: info.id }, title: info.description || info.id },
            info.id.split(":").slice(1).join(":"),
            " ",
            el("span", { className: `badge ${visibilityOf(info)}` }, visibilityOf(info)),
            info.name && info.name !== info.id.split(":").pop() ? el("small", {}, ` ${info.name}`) : null,
          ),
        );
      return el(
        "li",
        { className: "client", dataset: { clientId: key, connected: String(client.connected) } },
        el("span", {}, cid),
        client.connected ? null : el("small", {}, " (gone)"),
        list.length ? el("ul", {}, list) : null,
      );
    });
    serviceCount += wsServices;
    const details = el(
      "details",
      { className: "ws", dataset: { workspace: ws }, open: !collapsed.has(ws) },
      el("summary", {}, ws, " ", el("small", {}, `${keys.length} clients · ${wsServices} services`)),
      el("ul", {}, items),
    );
    details.addEventListener("toggle", () => {
      if (details.open) collapsed.delete(ws);
      else collapsed.add(ws);
    });
    tree.append(details);
  }
  $("count-workspaces").textContent = String(names.length);
  $("count-clients").textContent = String(clientCount);
  $("count-services").textContent = String(serviceCount);
}

// ------------------------------------------------------------------------- start

function setupUi() {
  const form = $("load-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const src = $("app-url").value.trim();
    if (src) loadFromUi(src);
  });
  const button = $("examples-button");
  const menu = $("examples-menu");
  const toggle = (open) => {
    menu.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    toggle(menu.hidden);
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#examples")) toggle(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") toggle(false);
  });
  for (const example of EXAMPLES) {
    menu.append(
      el(
        "li",
        { role: "none" },
        el(
          "button",
          {
            type: "button",
            role: "menuitem",
            dataset: { example: example.id },
            onclick: () => {
              toggle(false);
              loadFromUi(example.src, example.name);
            },
          },
          example.name,
          el("small", {}, example.description),
        ),
      ),
    );
  }
}

async function main() {
  setupUi();
  const hyphaCore = new HyphaCore();
  window.hyphaCore = hyphaCore;
  hyphaCore.on("add_window", onAddWindow);
  hyphaCore.on("remove_window", onRemoveWindow);
  hyphaCore.on("service_added", onServiceAdded);
  hyphaCore.on("service_removed", onServiceRemoved);
  hyphaCore.on("client_connected", onClientConnected);
  hyphaCore.on("client_disconnected", onClientDisconnected);
  // Loading a web-python app boots Pyodide (seconds): show each step in the status bar.
  hyphaCore.on("app_progress", ({ name, stage, progress }) => {
    setStatus(`loading ${name || "app"}: ${stage}${progress === null ? "" : ` (${Math.round(progress)}%)`}`, "starting");
    logEvent("app_progress", `${name || ""}: ${stage}`);
  });
  const api = await hyphaCore.start();
  window.api = api;
  $("server-url").textContent = hyphaCore.url;
  setStatus(`running: ${hyphaCore.url}`);
  $("load-button").disabled = false;
  $("examples-button").disabled = false;
  scheduleReconcile();
  renderTree();
  // ?app=URL (or ?plugin=URL, as in hypha-core's lite.html) loads apps at start.
  const params = new URLSearchParams(location.search);
  for (const src of [...params.getAll("app"), ...params.getAll("plugin")]) await loadFromUi(src);
  document.body.dataset.ready = "true";
  return hyphaCore;
}

window.demo = { loadApp, openWorker, closePanel, panels, services, examples: EXAMPLES };
window.hyphaCorePromise = main();
window.hyphaCorePromise.catch((e) => {
  console.error("hypha-core failed to start:", e);
  setStatus(`failed to start: ${(e && e.message) || e}`, "error");
});
