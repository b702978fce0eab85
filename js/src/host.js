// Host methods: what the page does for clients (windows, workers, dialogs, user functions).
// The manager forwards `create_window`, `load_app`, `alert`... of any client to the root
// client's `hypha-core-host` service with the caller's identity; the root API calls the same
// functions directly with root's identity.

import { requireBrowser, randId, sleep } from "./env.js";

/** Host methods every HyphaCore offers (snake_case, as clients call them). */
export const BUILT_IN_HOST_METHODS = [
  "create_window",
  "get_window",
  "load_app",
  "get_app",
  "load_plugin",
  "get_plugin",
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
      return await callWithContext(this.userFunctions[method], args, kwargs, context);
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
   */
  async createWindow(config, context) {
    requireBrowser("createWindow");
    config = Object.assign({}, config || {});
    const workspace = context.ws;
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
      origin = originOf(config.src);
      iframe.src = config.src;
    }
    if (iframe !== elem) elem.appendChild(iframe);
    else if (!iframe.isConnected) document.body.appendChild(iframe);

    const clientId = "client-" + randId();
    const { passive, ...windowConfig } = config;
    const mounted = this.core._mountPort({
      kind: "iframe",
      target: iframe.contentWindow,
      element: iframe,
      origin,
      workspace,
      clientId,
      ...this.core._childIdentity(context, workspace, clientId),
      config: jsonSafe(windowConfig),
      passive: !!passive,
      timeout: config.timeout || WINDOW_READY_MS,
      requireService: true,
    });
    const entry = {
      id: config.window_id || clientId,
      name: config.name || (html ? config.window_id || clientId : config.src),
      workspace,
      client_id: clientId,
      service: null,
      element: iframe,
    };
    this.windows.push(entry);
    const { service } = await mounted;
    if (passive) return null;
    entry.service = service;
    await autoStart(service, config, true);
    return service;
  }

  getWindow(query, context) {
    const visible = this.windows.filter((w) => canSee(context, w.workspace));
    let found;
    if (typeof query === "string") found = visible.find((w) => w.name === query || w.id === query);
    else if (query && query.id) found = visible.find((w) => w.id === query.id);
    else if (query && query.name) found = visible.find((w) => w.name === query.name);
    return found ? { id: found.id, name: found.name, service: found.service } : null;
  }

  // ---------------------------------------------------------------- apps

  /**
   * `{type: "web-worker", src}` with a script URL runs `new Worker(src)` and mounts it; anything
   * else opens a window.
   */
  async loadApp(config, context) {
    config = Object.assign({}, config || {});
    if (config.type === "web-worker" && isScriptUrl(config.src)) {
      return await this.createWorker(config, context);
    }
    const service = await this.createWindow(config, context);
    if (service) this._remember(config, context.ws, service);
    return service;
  }

  async createWorker(config, context) {
    requireBrowser("loadApp (web-worker)");
    if (typeof Worker === "undefined") throw new Error("loadApp (web-worker) requires the Worker API");
    const workspace = context.ws;
    const clientId = "client-" + randId();
    const options = /\.mjs(\?|#|$)/.test(config.src) || config.worker_type === "module" ? { type: "module" } : undefined;
    const worker = new Worker(config.src, options);
    this.workers.add(worker);
    let mounted;
    try {
      mounted = await this.core._mountPort({
        kind: "worker",
        target: worker,
        workspace,
        clientId,
        ...this.core._childIdentity(context, workspace, clientId),
        config: jsonSafe(config),
        passive: !!config.passive,
        timeout: config.timeout || WORKER_READY_MS,
        requireService: true,
      });
    } catch (e) {
      worker.terminate();
      this.workers.delete(worker);
      throw e;
    }
    if (config.passive) return null;
    await autoStart(mounted.service, config, config.type === "window");
    this._remember(config, workspace, mounted.service, worker);
    return mounted.service;
  }

  _remember(config, workspace, service, worker) {
    const clientId = service.id ? String(service.id).split("/").pop().split(":")[0] : undefined;
    this.apps.push({
      id: service.id,
      name: config.name || service.name || config.src,
      workspace,
      client_id: clientId,
      service,
      worker,
    });
  }

  async getApp(query, context) {
    if (typeof query === "string") return await this.loadApp({ src: query }, context);
    const visible = this.apps.filter((a) => canSee(context, a.workspace));
    if (query && query.id) {
      const found = visible.find(
        (a) => a.id === query.id || a.client_id === query.id || `${a.workspace}/${a.client_id}` === query.id,
      );
      return found ? found.service : null;
    }
    if (query && query.name) {
      const found = visible.find((a) => a.name === query.name);
      return found ? found.service : null;
    }
    throw new Error("Please provide either id or name for the plugin");
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

/** Root sees everything; others only what lives in their own workspace. */
function canSee(context, workspace) {
  const user = (context && context.user) || {};
  const isRoot = user.id === "root" && Array.isArray(user.roles) && user.roles.includes("admin");
  return isRoot || (context && context.ws === workspace);
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

