// Host methods: what the page does for clients (windows, workers, dialogs, user functions).
// The manager forwards `create_window`, `load_app`, `alert`... of any client to the root
// client's `hypha-core-host` service with the caller's identity; the root API calls the same
// functions directly with root's identity.

import { requireBrowser, randId, sleep } from "./env.js";
import { pluginParser } from "./wasm.js";

/** Host methods every HyphaCore offers (snake_case, as clients call them). */
export const BUILT_IN_HOST_METHODS = [
  "create_window",
  "get_window",
  "load_app",
  "get_app",
  "load_plugin",
  "get_plugin",
  "list_apps",
  "close_app",
  "alert",
  "confirm",
  "prompt",
  "show_message",
  "show_progress",
  "info",
  "warning",
  "error",
  "critical",
];

const WINDOW_WAIT_MS = 4500;
const WINDOW_READY_MS = 180000;
const WORKER_READY_MS = 60000;
/** Templates that run plugin source, looked up relative to `HyphaCore.baseUrl`. */
const WORKER_TEMPLATE = "hypha-app-webworker.js";
const WINDOW_TEMPLATE = "hypha-app-iframe.html";
/**
 * Plugin windows get an opaque origin: their code (often pasted or fetched source) cannot reach
 * the page, its storage or its cookies; it talks to the page only through its hypha-rpc client.
 */
const PLUGIN_SANDBOX = "allow-scripts allow-forms allow-modals allow-popups allow-downloads";
/** Runs `web-python` plugins in Pyodide, from `web-python/` next to it (scripts/build-python.mjs). */
const WEB_PYTHON_TEMPLATE = "hypha-app-webpython.js";
/** Pyodide boots in seconds; its worker gets longer than a JavaScript one to register its service. */
const WEB_PYTHON_READY_MS = 120000;

/** Cheap first look (the parser decides): could `src` be plugin source? */
function mayBePluginSource(src) {
  return typeof src === "string" && /<config[\s>]/i.test(src);
}

/** A URL of a plugin file (`*.imjoy.html`), absolute or relative. */
function isPluginFileUrl(src) {
  return typeof src === "string" && !/[\s<>]/.test(src.trim()) && /\.imjoy\.html([?#].*)?$/i.test(src.trim());
}

function isHtml(text) {
  return typeof text === "string" && text.trim().startsWith("<");
}

/** A worker script location: http(s), blob:, data: or a relative path (no markup, no spaces). */
function isScriptUrl(src) {
  if (typeof src !== "string" || !src.trim() || isHtml(src)) return false;
  if (/^(https?:|blob:|data:)/i.test(src)) return true;
  return !/\s/.test(src) && !/^[a-z][a-z0-9+.-]*:/i.test(src);
}

function configFrom(args, kwargs) {
  const first = args.length > 0 ? args[0] : undefined;
  const base = typeof first === "string" ? { src: first } : first && typeof first === "object" ? first : {};
  return Object.assign({}, base, kwargs || {});
}

/**
 * The declared parameters of a function: `{names, rest}`, one entry per top-level parameter
 * (its name, or null for destructuring), `rest` if the last one is `...rest`.
 */
function paramList(fn) {
  const text = Function.prototype.toString.call(fn).replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "");
  const open = text.indexOf("(");
  const arrow = text.indexOf("=>");
  if (open < 0 || (arrow >= 0 && arrow < open)) {
    const single = text.match(/^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/);
    return { names: single ? [single[1]] : [], rest: false };
  }
  const parts = [];
  let depth = 0;
  let quote = null;
  let current = "";
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      current += c;
      if (c === "\\") current += text[++i] || "";
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") depth += 1;
    else if (c === ")" || c === "]" || c === "}") {
      if (depth === 0) break;
      depth -= 1;
    } else if (c === "," && depth === 0) {
      parts.push(current.trim());
      current = "";
      continue;
    }
    current += c;
  }
  if (current.trim()) parts.push(current.trim());
  const rest = parts.length > 0 && parts[parts.length - 1].startsWith("...");
  const names = parts.map((p) => {
    const m = p.replace(/^\.\.\./, "").match(/^([A-Za-z_$][\w$]*)\s*(=|$)/);
    return m ? m[1] : null;
  });
  return { names, rest };
}

/**
 * Call a user `defaultService` function as hypha-rpc calls `require_context` functions, but
 * with the context always in the last declared parameter: a caller cannot shift its own
 * "context" object into that place by passing extra arguments.
 */
export function callWithContext(fn, args, kwargs, context) {
  const { names, rest } = paramList(fn);
  const keys = kwargs && typeof kwargs === "object" ? Object.keys(kwargs) : [];
  if (rest || names.length === 0) {
    const callArgs = [...args];
    if (keys.length > 0) callArgs.push(kwargs);
    callArgs.push(context);
    return fn(...callArgs);
  }
  const slot = names.length - 1;
  const callArgs = args.slice(0, slot);
  while (callArgs.length < slot) callArgs.push(undefined);
  let unused = keys.length;
  names.slice(0, slot).forEach((name, i) => {
    if (i >= args.length && name && Object.prototype.hasOwnProperty.call(kwargs, name)) {
      callArgs[i] = kwargs[name];
      unused -= 1;
    }
  });
  if (unused > 0 && keys.length > 0 && args.length < slot) {
    // Keyword arguments that name no parameter: hand them over as one object.
    const free = callArgs.indexOf(undefined);
    if (free >= 0) callArgs[free] = kwargs;
  }
  callArgs.push(context);
  return fn(...callArgs);
}

async function waitForElement(id, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const elem = document.getElementById(id);
    if (elem || Date.now() >= deadline) return elem;
    await sleep(100);
  }
}

function originOf(src) {
  try {
    const url = new URL(src, document.baseURI);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : "*";
  } catch (e) {
    return "*";
  }
}

export class Host {
  constructor(core, userFunctions) {
    this.core = core;
    this.userFunctions = userFunctions; // snake_case name -> function
    this.windows = []; // {id, name, workspace, client_id, service, element}
    this.apps = []; // {id, name, workspace, client_id, service, worker?}
    this.workers = new Set();
  }

  /** The method names to announce to the manager. */
  methodNames() {
    return [...BUILT_IN_HOST_METHODS, ...Object.keys(this.userFunctions)];
  }

  /** Run host method `method` for the caller described by `context`. */
  async run(method, args, kwargs, context) {
    args = Array.isArray(args) ? args : [];
    kwargs = kwargs && typeof kwargs === "object" ? kwargs : {};
    if (Object.prototype.hasOwnProperty.call(this.userFunctions, method)) {
      // User functions get the caller as hypha-rpc's context has it; the child identity the
      // core minted is for the windows and apps this host opens, not for them to hold.
      const { child, visible_workspaces, ...callerContext } = context || {};
      return await callWithContext(this.userFunctions[method], args, kwargs, callerContext);
    }
    switch (method) {
      case "create_window":
        return await this.createWindow(configFrom(args, kwargs), context);
      case "get_window":
        return this.getWindow(args.length > 0 ? args[0] : kwargs, context);
      case "load_app":
      case "load_plugin":
        return await this.loadApp(configFrom(args, kwargs), context);
      case "get_app":
      case "get_plugin":
        return await this.getApp(args.length > 0 ? args[0] : kwargs, context);
      case "list_apps":
        return this.listApps(context);
      case "close_app":
        return this.closeApp(args.length > 0 ? args[0] : kwargs, context);
      case "alert":
        return this.alert(args[0] ?? kwargs.msg ?? kwargs.message);
      case "confirm":
        return this.confirm(args[0] ?? kwargs.msg ?? kwargs.message);
      case "prompt":
        return this.prompt(args[0] ?? kwargs.msg ?? kwargs.message, args[1] ?? kwargs.default_value);
      case "show_message":
        console.log(args[0] ?? kwargs.msg);
        return null;
      case "show_progress":
        console.debug("progress:", args[0] ?? kwargs.progress);
        return null;
      case "info":
        console.info(...args);
        return null;
      case "warning":
        console.warn(...args);
        return null;
      case "error":
      case "critical":
        console.error(...args);
        return null;
      default:
        throw new Error(`unknown host method: ${method}`);
    }
  }

  // ---------------------------------------------------------------- dialogs

  alert(msg) {
    requireBrowser("alert");
    window.alert(msg);
    return null;
  }

  confirm(msg) {
    requireBrowser("confirm");
    return window.confirm(msg);
  }

  prompt(msg, defaultValue) {
    requireBrowser("prompt");
    return window.prompt(msg, defaultValue);
  }

  // ---------------------------------------------------------------- windows

  /**
   * Open `config.src` (a URL, or HTML starting with `<`, or `config.content`) in an iframe, mount
   * it as a client in the caller's workspace and resolve with its `default` service.
   * `plugin`: the parsed plugin a template window runs (sent as the client's init `config`, and
   * the window is sandboxed).
   */
  async createWindow(config, context, plugin = null) {
    requireBrowser("createWindow");
    config = Object.assign({}, config || {});
    const workspace = context.ws;
    const child = childOf(context);
    const html = isHtml(config.src) ? config.src : !config.src && typeof config.content === "string" ? config.content : null;
    if (!html && (typeof config.src !== "string" || !config.src)) {
      throw new Error("createWindow needs a src URL, HTML source or content");
    }
    let elem;
    if (config.type === "iframe") {
      elem = document.createElement("iframe");
      elem.id = config.window_id || "window-" + randId(8);
      elem.style.width = config.width || "100%";
      elem.style.height = config.height || "100%";
      elem.style.display = "none";
      config.window_id = elem.id;
    } else if (config.window_id) {
      elem = await waitForElement(config.window_id, WINDOW_WAIT_MS);
      if (!elem) throw new Error("Window element not found: " + config.window_id);
    } else {
      config.window_id = "window-" + randId(8);
      config.workspace = workspace;
      this.core._fire("add_window", config);
      elem = await waitForElement(config.window_id, WINDOW_WAIT_MS);
      if (!elem) {
        throw new Error(`iframe element not found ${config.window_id} in ${WINDOW_WAIT_MS / 1000} s`);
      }
    }
    let iframe = elem;
    if (elem.tagName !== "IFRAME") {
      iframe = document.createElement("iframe");
      iframe.style.width = config.width || "100%";
      iframe.style.height = config.height || "100%";
      iframe.style.border = "none";
    }
    let origin = "*";
    if (html) {
      // An opaque origin: the app cannot reach the page, its storage or its cookies.
      iframe.setAttribute("sandbox", "allow-scripts");
      iframe.srcdoc = html;
    } else {
      if (plugin) iframe.setAttribute("sandbox", PLUGIN_SANDBOX);
      else origin = originOf(config.src);
      iframe.src = config.src;
    }
    if (iframe !== elem) elem.appendChild(iframe);
    else if (!iframe.isConnected) document.body.appendChild(iframe);

    const clientId = child.clientId;
    const { passive, ...windowConfig } = config;
    const entry = {
      id: config.window_id || clientId,
      name: config.name || (html ? config.window_id || clientId : config.src),
      workspace,
      client_id: clientId,
      service: null,
      element: iframe,
    };
    this.windows.push(entry);
    let mounted;
    try {
      mounted = await this.core._mountPort({
        kind: "iframe",
        target: iframe.contentWindow,
        element: iframe,
        origin,
        workspace,
        clientId,
        token: child.token,
        userInfo: child.userInfo,
        config: jsonSafe(plugin || windowConfig),
        passive: !!passive,
        timeout: config.timeout || WINDOW_READY_MS,
        requireService: true,
      });
    } catch (error) {
      this.windows = this.windows.filter((w) => w !== entry);
      if (plugin || config.type === "iframe") iframe.remove();
      throw error;
    }
    if (passive) return null;
    entry.service = mounted.service;
    await autoStart(mounted.service, config, true);
    return mounted.service;
  }

  getWindow(query, context) {
    const visible = this.windows.filter((w) => visibleTo(context, w.workspace));
    let found;
    if (typeof query === "string") found = visible.find((w) => w.name === query || w.id === query);
    else if (query && query.id) found = visible.find((w) => w.id === query.id);
    else if (query && query.name) found = visible.find((w) => w.name === query.name);
    return found ? { id: found.id, name: found.name, service: found.service } : null;
  }

  // ---------------------------------------------------------------- apps

  /**
   * Load an app, deciding what `config.src` is in this order:
   * 1. `type: "web-worker"` with a script URL: a Worker running that script;
   * 2. plugin source (`<config>` + `<script>`/`<window>`), inline or fetched from a
   *    `*.imjoy.html` URL: parsed, then run by its type in a template worker or window;
   * 3. an HTML string: a sandboxed srcdoc window;
   * 4. any other URL: an iframe app (hypha-rpc, or a legacy imjoy-rpc app).
   * Plugin source is recognised before the HTML check, so inline plugins are not shown as HTML.
   */
  async loadApp(config, context) {
    config = Object.assign({}, config || {});
    const src = config.src;
    if (config.type === "web-worker" && isScriptUrl(src) && !isPluginFileUrl(src)) {
      return await this.createWorker(config, context);
    }
    let source = null;
    if (mayBePluginSource(src) && (await pluginParser()).isPluginSource(src)) source = src;
    else if (isPluginFileUrl(src)) source = await fetchPluginSource(src, (await pluginParser()).isPluginSource);
    if (source !== null) return await this.loadPlugin(source, config, context);
    const service = await this.createWindow(config, context);
    if (service) this._remember(config, context.ws, service, { element: this._elementOf(service) });
    return service;
  }

  /** Parse plugin `source` and run it by its `type`; `config` is what the caller gave loadApp. */
  async loadPlugin(source, config, context) {
    const { parsePlugin } = await pluginParser();
    let plugin;
    try {
      plugin = parsePlugin(source, typeof config.tag === "string" ? config.tag : undefined);
    } catch (error) {
      const wrapped = new Error(`Failed to parse the plugin: ${error.message || error}`);
      wrapped.code = error.code || "INVALID_PLUGIN";
      throw wrapped;
    }
    plugin.id = `${plugin._id || "plugin"}_${randId(8)}`;
    const appConfig = { ...config, name: config.name || plugin.name, app_type: plugin.type };
    const template = (file) => new URL(file, this.core.baseUrl).href;
    switch (plugin.type) {
      case "web-worker":
        return await this.createWorker(
          { ...appConfig, type: "web-worker", src: template(WORKER_TEMPLATE) },
          context,
          plugin,
        );
      case "window":
      case "iframe": {
        const windowConfig = { ...appConfig, src: template(WINDOW_TEMPLATE) };
        if (plugin.type === "iframe") windowConfig.type = "iframe";
        else delete windowConfig.type;
        const service = await this.createWindow(windowConfig, context, plugin);
        if (service) this._remember(appConfig, context.ws, service, { element: this._elementOf(service) });
        return service;
      }
      case "web-python":
        return await this.createWorker(
          {
            ...appConfig,
            type: "web-worker",
            src: template(WEB_PYTHON_TEMPLATE),
            timeout: config.timeout || WEB_PYTHON_READY_MS,
          },
          context,
          plugin,
        );
      default:
        throw new Error(`Unsupported plugin type: ${plugin.type}`);
    }
  }

  /**
   * A Worker running `config.src`, mounted as a client of the caller's workspace. `plugin`: the
   * parsed plugin the (template) worker runs, sent as its init `config`.
   */
  async createWorker(config, context, plugin = null) {
    requireBrowser("loadApp (web-worker)");
    if (typeof Worker === "undefined") throw new Error("loadApp (web-worker) requires the Worker API");
    const workspace = context.ws;
    const child = childOf(context);
    const clientId = child.clientId;
    const worker = startWorker(config.src, config);
    this.workers.add(worker);
    let mounted;
    try {
      mounted = await this.core._mountPort({
        kind: "worker",
        target: worker,
        workspace,
        clientId,
        token: child.token,
        userInfo: child.userInfo,
        config: jsonSafe(plugin || config),
        passive: !!config.passive,
        timeout: config.timeout || WORKER_READY_MS,
        requireService: true,
        appName: config.name || (plugin && plugin.name) || config.src,
      });
    } catch (e) {
      worker.terminate();
      this.workers.delete(worker);
      throw e;
    }
    if (config.passive) return null;
    await autoStart(mounted.service, config, (plugin ? plugin.type : config.type) === "window");
    this._remember(config, workspace, mounted.service, { worker });
    return mounted.service;
  }

  /** The iframe a window service lives in, if this host opened it. */
  _elementOf(service) {
    const clientId = clientIdOf(service);
    const entry = this.windows.find((w) => w.client_id === clientId);
    return entry ? entry.element : undefined;
  }

  _remember(config, workspace, service, { worker, element } = {}) {
    this.apps.push({
      id: service.id,
      name: config.name || service.name || config.src,
      type: config.app_type || config.type || (worker ? "web-worker" : "window"),
      workspace,
      client_id: clientIdOf(service),
      service,
      worker,
      element,
    });
  }

  /** Apps the caller may see. */
  _visibleApps(context) {
    return this.apps.filter((a) => visibleTo(context, a.workspace));
  }

  _findApp(query, context) {
    const visible = this._visibleApps(context);
    if (typeof query === "string") {
      return visible.find((a) => a.name === query || a.id === query || a.client_id === query) || null;
    }
    if (query && query.id) {
      return (
        visible.find(
          (a) => a.id === query.id || a.client_id === query.id || `${a.workspace}/${a.client_id}` === query.id,
        ) || null
      );
    }
    if (query && query.name) return visible.find((a) => a.name === query.name) || null;
    return undefined;
  }

  /**
   * `getApp(name | {id} | {name})`: a running app's service, or null. A string that names no
   * running app but is a URL or plugin source loads it, as hypha-core's getApp does.
   */
  async getApp(query, context) {
    const found = this._findApp(query, context);
    if (found) return found.service;
    if (found === undefined) throw new Error("Please provide either id or name for the plugin");
    if (typeof query === "string" && (isHtml(query) || isScriptUrl(query) || /^https?:/i.test(query))) {
      return await this.loadApp({ src: query }, context);
    }
    return null;
  }

  /** `[{id, name, type, workspace, client_id}]` of the running apps the caller may see. */
  listApps(context) {
    return this._visibleApps(context).map(({ id, name, type, workspace, client_id }) => ({
      id,
      name,
      type,
      workspace,
      client_id,
    }));
  }

  /**
   * Stop an app (`name | {id} | {name}`): terminate its worker or remove its window. Its client
   * disconnects, its services go, and calls in flight to it fail. True if an app was stopped.
   */
  closeApp(query, context) {
    const found = this._findApp(query, context);
    if (!found) return false;
    if (found.worker) found.worker.terminate();
    else if (found.element) {
      const window = this.windows.find((w) => w.client_id === found.client_id);
      found.element.remove();
      this.core._fire("remove_window", { id: window ? window.id : found.element.id, name: found.name, app_id: found.id });
    }
    this.core._unmountClient(found.workspace, found.client_id, "app closed");
    return true;
  }

  /** The app or window of client `workspace/clientId` went away: forget it. */
  forgetClient(workspace, clientId) {
    const gone = (a) => a.workspace === workspace && a.client_id === clientId;
    for (const app of this.apps.filter(gone)) if (app.worker) this.workers.delete(app.worker);
    this.apps = this.apps.filter((a) => !gone(a));
    this.windows = this.windows.filter((w) => !gone(w));
  }

  /** Forget windows and apps, stop the workers this host started. */
  dispose() {
    for (const worker of this.workers) {
      try {
        worker.terminate();
      } catch (e) {
        // already gone
      }
    }
    this.workers.clear();
    this.windows = [];
    this.apps = [];
  }
}

/** The client id in a service id `ws/client:svc`. */
function clientIdOf(service) {
  return service && service.id ? String(service.id).split("/").pop().split(":")[0] : undefined;
}

async function fetchPluginSource(src, isPluginSource) {
  const url = new URL(src, globalThis.document ? document.baseURI : undefined).href;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Failed to fetch the plugin ${url}: ${error.message || error}`);
  }
  if (!response.ok) throw new Error(`Failed to fetch the plugin ${url}: HTTP ${response.status}`);
  const text = await response.text();
  if (!isPluginSource(text)) {
    throw new Error(`${url} is not a plugin file: it needs a <config> block and a <script> or <window> block`);
  }
  return text;
}

/**
 * `new Worker(src)`; a script on another origin (hypha-core served from a CDN) is started through
 * a same-origin blob: shim that imports it, since browsers only start same-origin worker scripts.
 */
function startWorker(src, config) {
  const module = /\.mjs(\?|#|$)/.test(src) || config.worker_type === "module";
  const url = new URL(src, document.baseURI);
  if (url.origin === location.origin || url.protocol === "blob:" || url.protocol === "data:") {
    return new Worker(url.href, module ? { type: "module" } : undefined);
  }
  const shim = module
    ? `import ${JSON.stringify(url.href)};`
    : `self.HYPHA_APP_BASE_URL = ${JSON.stringify(url.href)}; importScripts(${JSON.stringify(url.href)});`;
  const blobUrl = URL.createObjectURL(new Blob([shim], { type: "text/javascript" }));
  try {
    return new Worker(blobUrl, module ? { type: "module" } : undefined);
  } finally {
    setTimeout(() => URL.revokeObjectURL(blobUrl), 60000);
  }
}

/** Whether `workspace` is among those the core says the caller may see (`"*"`: all). */
function visibleTo(context, workspace) {
  const visible = context && context.visible_workspaces;
  return visible === "*" || (Array.isArray(visible) && visible.includes(workspace));
}

/** The identity the core minted for the client a host call opens (absent: it may open none). */
function childOf(context) {
  const child = context && context.child;
  if (!child || typeof child.client_id !== "string" || typeof child.token !== "string") {
    throw new Error(`permission denied: no client may be opened for this caller in ${context && context.ws}`);
  }
  return { clientId: child.client_id, token: child.token, userInfo: child.user };
}

/** What ImJoy-style apps expect after loading: `setup()`, and `run({data, config})` for windows. */
async function autoStart(service, config, runIt) {
  if (!service) return;
  if (typeof service.setup === "function") {
    try {
      await service.setup();
    } catch (e) {
      console.error(`hypha-core: setup() of ${config.name || config.src} failed:`, e);
    }
  }
  if (runIt && typeof service.run === "function") {
    try {
      await service.run({ data: config.data, config: config.config });
    } catch (e) {
      console.error(`hypha-core: run() of ${config.name || config.src} failed:`, e);
    }
  }
}

/** A structured-clone-safe copy (drops functions and proxies). */
function jsonSafe(value) {
  try {
    return JSON.parse(JSON.stringify(value ?? {}));
  } catch (e) {
    return {};
  }
}

