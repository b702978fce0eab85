// HyphaCore: hypha-core's public class, driving the Rust server compiled to WebAssembly.
//
// Transports into the server: in-tab sockets (the `WebSocketClass` handed to hypha-rpc by
// `start()` and `connect()`) and postMessage ports for mounted workers and iframes. The root
// client (`default/root`, admin) serves the host methods (windows, workers, dialogs, user
// `defaultService` functions) that the manager forwards with the real caller's identity.

import { connectToServer } from "hypha-rpc";
import { getParamNames } from "hypha-rpc/rpc";
import { EventBus } from "./emitter.js";
import {
  detectEnvironment,
  ensureWebSocketConstants,
  isBrowser,
  randId,
  randomHex,
  requireBrowser,
  toCamelCase,
  toSnakeCase,
} from "./env.js";
import { Host } from "./host.js";
import { bridgeLegacyApp } from "./legacy.js";
import { PortBinding } from "./ports.js";
import { createSocketClass } from "./socket.js";
import { loadServerModule } from "./wasm.js";

ensureWebSocketConstants();

const HOST_SERVICE = "hypha-core-host";
const LOCAL_SERVER_PREFIX = "https://local-hypha-server:";
const MOUNT_TIMEOUT_MS = 60000;
/** Marks a Worker whose terminate() also disconnects its client. */
const TERMINATE_HOOK = Symbol("hypha-core terminate hook");
/** hypha-rpc logger of the clients this facade opens itself: errors only. */
const QUIET_LOGGER = {
  debug() {},
  info() {},
  log() {},
  warn() {},
  error: (...args) => console.error(...args),
};

function randomSeed() {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return words[0] * 2 ** 21 + (words[1] >>> 11); // < 2^53: exact as a JS number
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function iframeLoaded(element) {
  try {
    const doc = element.contentDocument;
    return !!doc && doc.readyState === "complete" && doc.URL !== "about:blank";
  } catch (e) {
    return false;
  }
}

/** The `_mountPort` options common to workers and iframes, from a mount `config`. */
function mountOptions(config, identity) {
  return {
    ...identity,
    config: config.config || {},
    methodTimeout: config.method_timeout,
    passive: !!config.passive,
    timeout: config.timeout || MOUNT_TIMEOUT_MS,
  };
}

/**
 * Where the app templates (hypha-app-webworker.js, hypha-app-iframe.html) are: next to this
 * module when it was loaded over http(s) (dist/ or a CDN: they ship together), else the page's
 * directory as in hypha-core.
 */
function defaultBaseUrl() {
  // Not `new URL("./", import.meta.url)`: bundlers would take that for an asset to emit.
  const here = new URL("./", new URL(import.meta.url));
  if (here.protocol === "http:" || here.protocol === "https:") return here.href;
  if (isBrowser() && document.location) return new URL("./", document.location.href).href;
  return "http://localhost:8080/";
}

export class HyphaCore extends EventBus {
  /** url → running HyphaCore, shared by every instance in this JS realm. */
  static servers = {};

  constructor(config) {
    super();
    config = config || {};
    this.port = config.port || 8080;
    this.host = config.host || (isBrowser() ? "local-hypha-server" : "localhost");
    let baseUrl = config.baseUrl || config.base_url || defaultBaseUrl();
    if (!baseUrl.endsWith("/")) baseUrl += "/";
    this.baseUrl = baseUrl;
    if (config.url && config.port) {
      throw new Error("Please provide either url or port, not both.");
    }
    if (config.url && (config.url.startsWith("wss://") || config.url.startsWith("ws://"))) {
      if (!config.url.endsWith("/ws")) {
        throw new Error("Please provide a valid wss url ending with /ws");
      }
      this.url = config.url.replace("wss://", "https://").replace("ws://", "http://").slice(0, -3);
      this.wsUrl = config.url;
    } else {
      this.url = config.url || `https://${this.host}:${this.port}`;
      this.wsUrl = this.url.replace("https://", "wss://").replace("http://", "ws://") + "/ws";
    }
    this.api = null;
    /** The wasm `HyphaServer` while running. */
    this.server = null;
    this.workspaceManagerId = "workspace-manager";
    /** `"ws/cid"` → `{id, workspace, client_id, conn, user_id?, source?, user?, postMessage?}`. */
    this.connections = {};
    this.jwtSecret = config.jwtSecret || config.jwt_secret || randomHex(32);
    this.environment = detectEnvironment();
    // Server mode (`ServerClass: DenoWebSocketServer` from `hypha-core-rs/deno-websocket-server`):
    // the same server also listens on `url` for WebSocket and HTTP clients. Any other ServerClass
    // (hypha-core's mock-socket server) is accepted and ignored: the server runs here as
    // WebAssembly. Either way this instance's own clients (root, `connect()`) use the in-process
    // socket class below, whatever `WebSocketClass` says.
    const serverClass = config.ServerClass;
    this.ServerClass = serverClass && typeof serverClass.loadHyphaServer === "function" ? serverClass : null;
    this._httpOptions = config.http;
    this._listener = null;
    this.WebSocketClass = createSocketClass(this);

    const userFunctions = config.defaultService || config.default_service || {};
    this.defaultServices = {}; // snake_case name → function (checked against the manager's in start())
    for (const [key, value] of Object.entries(userFunctions)) {
      if (typeof value === "function") this.defaultServices[toSnakeCase(key)] = value;
    }
    this._wasmSource = config.wasm;
    this._serverWasmSource = config.serverWasm;
    this._state = "idle"; // idle | starting | running
    this._generation = 0;
    this._transports = new Map(); // conn → socket or PortBinding
    this._binding = null; // transport being attached while server.connect runs
    this._sockets = new Set(); // open in-tab sockets
    this._bindings = new Map(); // Worker / contentWindow → PortBinding
    this._earlyReady = new WeakSet(); // windows that said hyphaClientReady before being mounted
    this._clients = new Set(); // hypha-rpc clients this instance created
    this._waiters = new Set(); // pending service waits (cancelled by close)
    this._root = null;
    this._host = null;
    this._frameObserver = null;
    this.messageHandler = (event) => this._onWindowMessage(event);
  }

  // ================================================================ lifecycle

  /** Start the server and connect the root client; resolves with the root API. */
  async start(config) {
    config = config || {};
    if (config.workspace !== undefined) throw new Error("workspace is not allowed to be set in the config");
    if (config.client_id !== undefined) throw new Error("client_id is not allowed to be set in the config");
    if (HyphaCore.servers[this.url]) {
      throw new Error(`Server already running at ${this.url}`);
    }
    HyphaCore.servers[this.url] = this;
    const generation = ++this._generation;
    this._state = "starting";
    try {
      // Outside a browser, once hypha-core-rs/deno-websocket-server was imported, the server
      // build (with the HTTP API) is used even without ServerClass, so that a DenoWebSocketServer
      // can be attached after start() (`new DenoWebSocketServer(url, {hyphaCore})`).
      const serverBuild = this.ServerClass
        ? (source) => this.ServerClass.loadHyphaServer(source)
        : !isBrowser() && globalThis[Symbol.for("hypha-core-rs.loadHyphaServer")];
      const HyphaServer = serverBuild
        ? await serverBuild(this._serverWasmSource)
        : await loadServerModule(this._wasmSource);
      this._checkGeneration(generation);
      // The manager answers its own methods: a page function of the same name would never run.
      for (const name of HyphaServer.managerMethods()) {
        if (!Object.prototype.hasOwnProperty.call(this.defaultServices, name)) continue;
        console.warn(`hypha-core: defaultService function ${name} is ignored: the manager's own ${name} takes precedence`);
        delete this.defaultServices[name];
      }
      this._host = new Host(this, this.defaultServices);
      this.server = new HyphaServer({
        publicBaseUrl: this.url,
        jwtSecret: this.jwtSecret,
        seed: randomSeed(),
        managerId: this.workspaceManagerId,
        // Server mode runs HTTP calls to root's own functions in-process (server/root-calls.js).
        http: serverBuild ? { localRootCalls: true, ...this._httpOptions } : this._httpOptions,
        host: {
          workspace: "default",
          clientId: "root",
          service: HOST_SERVICE,
          methods: this._host.methodNames(),
        },
      });
      this.server.setHandlers(
        (conn, data) => this._onTransmit(conn, data),
        (event) => this._onEvent(event),
      );
      this._state = "running";
      if (isBrowser()) {
        window.addEventListener("message", this.messageHandler);
        // Closing an app's window (removing its iframe) disconnects the app.
        this._frameObserver = new MutationObserver((records) => {
          if (records.some((r) => r.removedNodes.length > 0)) this._sweepDetachedFrames();
        });
        this._frameObserver.observe(document.documentElement, { childList: true, subtree: true });
      }

      const root = await this._connectInternal({
        client_id: "root",
        workspace: "default",
        token: this.server.rootToken(),
      });
      this._checkGeneration(generation);
      this._root = root;
      // Registered with root only, not with the manager: the manager reaches it by the address
      // it was configured with (`host` above), never lists it, and the Router refuses it to
      // every other caller, so a registration would buy nothing and cost a start two round
      // trips (hypha-rpc fetches the manager's descriptor again for it). `_local_only` keeps
      // hypha-rpc from registering it on a reconnect too.
      await root.registerService(
        {
          id: HOST_SERVICE,
          name: "hypha-core host",
          description: "Host-page functions the workspace manager forwards for clients.",
          config: { require_context: true, visibility: "protected", _local_only: true },
          dispatch: (...args) => this._dispatchHost(...args),
        },
        { notify: false },
      );
      this._checkGeneration(generation);
      this.api = this._buildRootApi(root);
      if (this.ServerClass) {
        // Listen last: the first remote client finds the root API and defaultService ready.
        this._listener = new this.ServerClass(this.wsUrl, { hyphaCore: this });
        await this._listener.listening;
        this._checkGeneration(generation);
      }
      return this.api;
    } catch (error) {
      if (generation === this._generation) this.close();
      throw error;
    }
  }

  /** Connect another hypha-rpc client to this server; resolves with its (camelCase) API. */
  async connect(config) {
    config = Object.assign({}, config || {});
    if (config.client_id === "root") throw new Error("client_id cannot be 'root'");
    this._requireRunning("connect");
    if (!config.client_id && typeof config.token === "string") {
      // A token bound to a client id can only be used by that client.
      try {
        const bound = this.server.verifyToken(config.token).client_id;
        if (bound && bound !== "root") config.client_id = bound;
      } catch (e) {
        // an invalid token: the server refuses it during the handshake, with its reason
      }
    }
    config.client_id = config.client_id || randId();
    delete config.server;
    const generation = this._generation;
    const api = await connectToServer({
      ...config,
      server_url: this.url,
      WebSocketClass: this.WebSocketClass,
    });
    if (generation !== this._generation) {
      await api.disconnect().catch(() => {});
      throw new Error("hypha-core server was closed while connecting");
    }
    this._clients.add(api);
    return this._wrapClient(api, config);
  }

  /** `close()` then `start()`. */
  async reset() {
    await this.close();
    return await this.start();
  }

  /**
   * Disconnect every client, stop mounted workers' and iframes' connections, shut the server
   * down and free it. A new `start()` (on this or another instance) works afterwards. The
   * returned promise settles when the clients this instance created have disconnected.
   */
  close() {
    this._generation += 1;
    this._state = "idle";
    if (HyphaCore.servers[this.url] === this) delete HyphaCore.servers[this.url];
    if (isBrowser()) window.removeEventListener("message", this.messageHandler);
    if (this._frameObserver) this._frameObserver.disconnect();
    this._frameObserver = null;
    const pending = [];
    for (const client of this._clients) {
      try {
        pending.push(Promise.resolve(client.disconnect()).catch(() => {}));
      } catch (e) {
        // already disconnected
      }
    }
    this._clients.clear();
    this._root = null;
    for (const waiter of this._waiters) waiter.cancel(new Error("hypha-core server closed"));
    this._waiters.clear();
    for (const binding of this._bindings.values()) binding.dispose(true);
    this._bindings.clear();
    if (this._host) this._host.dispose();
    this._host = null;
    for (const socket of [...this._sockets]) socket._serverClose(1001, "server closed");
    this._sockets.clear();
    if (this._listener) {
      // Closes its sockets and responses now; resolves when the runtime's server has stopped.
      pending.push(this._listener.close());
      this._listener = null;
    }
    if (this.server) {
      const server = this.server;
      this.server = null;
      try {
        server.shutdown();
        server.free();
      } catch (e) {
        console.warn("hypha-core: error while freeing the server:", e);
      }
    }
    this._transports.clear();
    this.api = null;
    this.connections = {};
    return Promise.all(pending).then(() => undefined);
  }

  // ================================================================ mounting

  /**
   * Connect a Worker (or anything with postMessage/addEventListener) running hypha-rpc's
   * `setupLocalClient` as client `workspace/client_id`; resolves with
   * `{workspace, client_id, connection, service}` once it registered its `default` service.
   */
  async mountWorker(worker, config) {
    config = config || {};
    if (!worker || typeof worker.postMessage !== "function" || typeof worker.addEventListener !== "function") {
      throw new Error("Invalid worker: must have postMessage and addEventListener methods");
    }
    this._requireRunning("mountWorker");
    const { workspace, clientId, userInfo, token } = this._mountIdentity(config);
    return await this._mountPort({
      ...mountOptions(config, { workspace, clientId, token, userInfo }),
      kind: "worker",
      target: worker,
      requireService: true,
    });
  }

  /** Same as `mountWorker` for an `<iframe>` or its `contentWindow` (browser only). */
  async mountIframe(iframe, config) {
    requireBrowser("Iframe mounting");
    config = config || {};
    let element = null;
    let target;
    if (iframe && iframe.tagName === "IFRAME") {
      element = iframe;
      target = iframe.contentWindow;
    } else if (iframe && typeof iframe.postMessage === "function" && iframe.parent) {
      target = iframe;
    }
    if (!target) throw new Error("Invalid iframe: must be an iframe element or iframe.contentWindow");
    this._requireRunning("mountIframe");
    const { workspace, clientId, userInfo, token } = this._mountIdentity(config);
    let origin = "*";
    if (element && element.src && !element.hasAttribute("srcdoc")) {
      try {
        const url = new URL(element.src, document.baseURI);
        if (url.protocol === "http:" || url.protocol === "https:") origin = url.origin;
      } catch (e) {
        origin = "*";
      }
    }
    return await this._mountPort({
      ...mountOptions(config, { workspace, clientId, token, userInfo }),
      kind: "iframe",
      target,
      element,
      origin,
      requireService: false,
    });
  }

  _mountIdentity(config) {
    const workspace = config.workspace || "default";
    const clientId = config.client_id || "client-" + randId();
    const given = config.user_info && typeof config.user_info === "object" ? config.user_info : null;
    const userInfo = given || { id: clientId, is_anonymous: true, email: null, roles: [], scopes: [] };
    const token = this.server.mountToken({
      workspace,
      client_id: clientId,
      user_id: given && typeof given.id === "string" ? given.id : undefined,
      email: given && typeof given.email === "string" ? given.email : undefined,
    });
    return { workspace, clientId, userInfo, token };
  }

  /** Bind a port and run the setupLocalClient handshake. Registration happens synchronously. */
  _mountPort(opts) {
    this._requireRunning("mount");
    const { kind, target, workspace, clientId } = opts;
    const key = `${workspace}/${clientId}`;
    const existing = this.connections[key];
    if (existing && existing.conn !== null && existing.conn !== undefined) {
      return Promise.reject(new Error(`client already exists and is connected: ${key}`));
    }
    const previous = this._bindings.get(target);
    if (previous) {
      previous.dispose(true);
      if (this.connections[previous.key] && this.connections[previous.key].source === target) {
        delete this.connections[previous.key];
      }
    }
    const binding = new PortBinding(this, { kind, target, workspace, clientId, origin: opts.origin });
    binding.element = opts.element || null;
    binding.token = opts.token;
    binding.appName = opts.appName || null;
    this._bindings.set(target, binding);
    if (kind === "worker") {
      const listener = (event) => binding.handle(event.data);
      target.addEventListener("message", listener);
      binding._detachListener = () => target.removeEventListener("message", listener);
      this._hookTerminate(target);
    }
    // An app template that fails while loading says so: fail the mount with its error at once.
    const appFailed = new Promise((_, reject) => {
      binding.onAppError = (message) => reject(new Error(`The app failed to load: ${message}`));
    });
    appFailed.catch(() => {});
    const connection = {
      id: key,
      workspace,
      client_id: clientId,
      source: target,
      user: opts.userInfo,
      conn: null,
      postMessage: (message) => binding.post(message),
    };
    this.connections[key] = connection;
    const waiter = opts.passive ? null : this._waitForService(workspace, `${key}:default`, opts.timeout);
    const init = {
      type: "initializeHyphaClient",
      server_url: this._childServerUrl(),
      workspace,
      client_id: clientId,
      token: opts.token,
      user_info: opts.userInfo,
      config: opts.config && typeof opts.config === "object" ? opts.config : {},
    };
    if (opts.methodTimeout) init.method_timeout = opts.methodTimeout;

    const fail = (error) => {
      if (waiter) waiter.cancel(error);
      binding.dispose(true);
      if (this._bindings.get(target) === binding) this._bindings.delete(target);
      if (this.connections[key] === connection) delete this.connections[key];
      throw error;
    };
    return (async () => {
      try {
        if (kind === "worker") {
          // A worker whose script is missing or throws never says hyphaClientReady: its `error`
          // event is the only sign, so fail with it instead of waiting for the timeout.
          let onError = null;
          const crashed = new Promise((_, reject) => {
            onError = (event) => {
              const detail = event && event.message ? event.message : "the script failed to load or threw";
              reject(new Error(`Worker failed to start: ${detail}`));
            };
            target.addEventListener("error", onError);
          });
          try {
            await withTimeout(
              Promise.race([binding.whenReady(), crashed, appFailed]),
              opts.timeout,
              `Worker did not send hyphaClientReady within ${opts.timeout}ms`,
            );
          } finally {
            target.removeEventListener("error", onError);
          }
          binding.post(init);
        } else {
          await Promise.race([this._initIframe(binding, opts.element, init, opts.timeout), appFailed]);
        }
      } catch (error) {
        return fail(error);
      }
      const loaded = () => {
        binding.onAppError = (message) => console.warn(`hypha-core: ${key} reported an error: ${message}`);
      };
      if (!waiter) {
        loaded();
        return { workspace, client_id: clientId, connection, service: null };
      }
      let service = null;
      try {
        service = await Promise.race([waiter.promise, appFailed]);
        loaded();
      } catch (error) {
        if (error && /^The app failed to load/.test(error.message)) return fail(error);
        if (opts.requireService) {
          return fail(new Error(`${kind === "worker" ? "Worker" : "Iframe"} RPC client did not become ready: ${error.message}`));
        }
        console.warn(`hypha-core: ${key} did not register its default service: ${error.message}`);
      }
      return { workspace, client_id: clientId, connection, service };
    })();
  }

  /** A mounted iframe turned out to be a legacy imjoy-rpc app: bridge it (legacy.js). */
  _startLegacyApp(binding, initialized) {
    if (binding.legacyStarting || !isBrowser()) return;
    binding.legacyStarting = true;
    bridgeLegacyApp(binding, initialized, (options) => this._connectInternal(options)).catch((error) => {
      if (typeof binding.onAppError === "function") binding.onAppError(error.message || String(error));
    });
  }

  /** Make `worker.terminate()` also disconnect the client mounted on it. */
  _hookTerminate(worker) {
    if (typeof worker.terminate !== "function" || worker[TERMINATE_HOOK]) return;
    const terminate = worker.terminate;
    const hub = this;
    Object.defineProperty(worker, TERMINATE_HOOK, { value: true });
    worker.terminate = function (...args) {
      const result = terminate.apply(this, args);
      const binding = hub._bindings.get(worker);
      if (binding) hub._unmountClient(binding.workspace, binding.clientId);
      return result;
    };
  }

  /**
   * Disconnect the mounted client `workspace/clientId` for good (its worker ended or its iframe
   * left the page): its services go and calls in flight to it fail.
   */
  _unmountClient(workspace, clientId) {
    const key = `${workspace}/${clientId}`;
    for (const [target, binding] of this._bindings) {
      if (binding.key !== key) continue;
      binding.dispose(false);
      this._bindings.delete(target);
    }
    const entry = this.connections[key];
    if (entry && entry.source) delete this.connections[key];
    if (this._host) this._host.forgetClient(workspace, clientId);
  }

  /** Mounted iframes that were removed from the document are unmounted. */
  _sweepDetachedFrames() {
    for (const binding of [...this._bindings.values()]) {
      if (binding.element && !binding.element.isConnected) this._unmountClient(binding.workspace, binding.clientId);
    }
  }

  /**
   * Post `initializeHyphaClient` when the iframe says hyphaClientReady or has loaded, whichever
   * comes first; post it again if the page (re)installs its listener after that.
   */
  async _initIframe(binding, element, init, timeout) {
    let sent = false;
    let everConnected = false;
    const send = () => {
      sent = true;
      binding.post(init);
    };
    binding.onReady = () => {
      if (!sent) return send();
      if (everConnected || binding.connectCount > 0) {
        // A reloaded page asks again: it gets a fresh start.
        everConnected = true;
        return send();
      }
      // Our first message may have reached the page before its listener: resend unless the
      // page answers the first one right away.
      const seen = binding.connectCount;
      setTimeout(() => {
        if (!binding.closed && binding.connectCount === seen) send();
      }, 250);
    };
    if (this._earlyReady.has(binding.target)) {
      this._earlyReady.delete(binding.target);
      send();
      return;
    }
    if (!element || iframeLoaded(element)) {
      send();
      return;
    }
    await new Promise((resolve) => {
      let timer = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        element.removeEventListener("load", done);
        resolve();
      };
      binding.whenReady(false).then(done);
      element.addEventListener("load", done);
      timer = setTimeout(done, timeout);
    });
    if (!sent && !binding.closed) send();
  }

  _childServerUrl() {
    // hypha-rpc's setupLocalClient only accepts this prefix; the URL is a label (the port
    // carries the traffic), so children get it even when this.url is something else.
    return this.url.startsWith(LOCAL_SERVER_PREFIX) ? this.url : `${LOCAL_SERVER_PREFIX}${this.port}`;
  }

  _onWindowMessage(event) {
    const source = event.source;
    if (!source) return;
    const binding = this._bindings.get(source);
    if (!binding) {
      if (event.data && event.data.type === "hyphaClientReady") this._earlyReady.add(source);
      return;
    }
    if (binding.kind !== "iframe") return;
    if (binding.origin !== "*" && event.origin !== binding.origin) return;
    binding.handle(event.data);
  }

  /** Resolves with the service `id` (in `workspace`) once it is registered. */
  _waitForService(workspace, id, timeout) {
    let settle;
    const waiter = {
      promise: new Promise((resolve, reject) => {
        settle = { resolve, reject };
      }),
      cancel: (error) => {
        cleanup();
        settle.reject(error || new Error("cancelled"));
      },
    };
    waiter.promise.catch(() => {});
    const handler = (info) => {
      if (!info || typeof info.id !== "string" || info.id.split("@")[0] !== id) return;
      cleanup();
      this._getService(id).then(
        (service) => {
          this._fire("client_ready", service);
          settle.resolve(service);
        },
        (error) => settle.reject(error),
      );
    };
    const timer = setTimeout(() => {
      cleanup();
      settle.reject(new Error(`Timeout after ${timeout / 1000} s waiting for ${id}`));
    }, timeout);
    const cleanup = () => {
      clearTimeout(timer);
      this.off("service_added", handler);
      this._waiters.delete(waiter);
    };
    this.on("service_added", handler);
    this._waiters.add(waiter);
    return waiter;
  }

  // ================================================================ connections

  /**
   * Close client `workspace/clientId`'s connection from the server side, after sending it
   * `{type: "error", message: reason}`. hypha-rpc clients may reconnect afterwards.
   */
  async forceDisconnect(workspace, clientId, code, reason) {
    const key = `${workspace}/${clientId}`;
    const entry = this.connections[key];
    const conn = entry ? entry.conn : null;
    const transport = conn !== null && conn !== undefined ? this._transports.get(conn) : null;
    if (!transport) throw new Error(`Client not connected: ${key}`);
    reason = reason || "disconnected by the server";
    transport._deliver(JSON.stringify({ type: "error", message: reason }));
    transport._serverClose(code || 1000, reason);
    if (transport instanceof PortBinding) transport.conn = null;
    this._detach(conn);
  }

  /** `{ "ws/cid": connection }` of clients connected through in-tab sockets. */
  getWebsockets() {
    const out = {};
    for (const [key, entry] of Object.entries(this.connections)) {
      const transport = entry.conn !== null && entry.conn !== undefined ? this._transports.get(entry.conn) : null;
      if (transport && !(transport instanceof PortBinding)) out[key] = transport;
    }
    return out;
  }

  /** Claims of a token signed by this server, or throws an Error with `code` INVALID_TOKEN. */
  verifyToken(token) {
    this._requireRunning("verifyToken");
    return this.server.verifyToken(token);
  }

  // ================================================================ hub (transports ↔ server)

  _acceptsSockets() {
    return this._state !== "idle" && this.server !== null;
  }

  /** A transport sent its hello: open a server connection for it. */
  _attach(transport, hello) {
    if (!this.server) {
      transport._serverClose(1001, "server closed");
      return null;
    }
    this._binding = transport;
    let conn;
    try {
      conn = this.server.connect(hello);
    } finally {
      this._binding = null;
    }
    this._transports.set(conn, transport);
    return conn;
  }

  _send(conn, data) {
    if (!this.server || !this._transports.has(conn)) return;
    try {
      this.server.message(conn, data);
    } catch (e) {
      console.error("hypha-core: frame refused:", e);
    }
  }

  _detach(conn) {
    if (conn === null || conn === undefined || !this._transports.delete(conn)) return;
    if (this.server) this.server.disconnect(conn);
  }

  _transportOf(conn) {
    let transport = this._transports.get(conn);
    if (!transport && this._binding) {
      transport = this._binding;
      this._transports.set(conn, transport);
    }
    return transport;
  }

  _onTransmit(conn, data) {
    const transport = this._transportOf(conn);
    if (transport) transport._deliver(data);
  }

  _onEvent(event) {
    switch (event.type) {
      case "close": {
        const transport = this._transportOf(event.conn);
        if (transport) transport._serverClose(event.code, event.reason);
        queueMicrotask(() => this._detach(event.conn));
        break;
      }
      case "client_connected": {
        const entry = this.connections[event.id] || { id: event.id, workspace: event.workspace };
        Object.assign(entry, { client_id: event.clientId, user_id: event.userId, conn: event.conn });
        this.connections[event.id] = entry;
        this._fireLater("client_connected", {
          id: event.id,
          workspace: event.workspace,
          client_id: event.clientId,
          user_id: event.userId,
        });
        break;
      }
      case "client_disconnected": {
        const entry = this.connections[event.id];
        if (entry) {
          if (entry.source) entry.conn = null;
          else delete this.connections[event.id];
        }
        this._fireLater("client_disconnected", {
          id: event.id,
          workspace: event.workspace,
          client_id: event.clientId,
        });
        break;
      }
      case "service_added":
      case "service_removed": {
        const info = event.service;
        if (info && typeof info.id === "string" && info.id.endsWith(":built-in")) break;
        this._fireLater(event.type, info);
        break;
      }
      default:
        break;
    }
  }

  /** Events reach user handlers outside any server call. */
  _fireLater(type, data) {
    queueMicrotask(() => this._fire(type, data));
  }

  // ================================================================ host methods

  /** The host methods the manager forwards; the Router lets nobody else call this service. */
  async _dispatchHost(...args) {
    args.pop(); // the manager's own context: the caller's is `callerContext`
    const [method, callArgs, kwargs, callerContext] = args;
    if (typeof method !== "string" || !callerContext || typeof callerContext.ws !== "string") {
      throw new Error("invalid host call");
    }
    if (!this._host) throw new Error("hypha-core server closed");
    return await this._host.run(method, callArgs, kwargs, callerContext);
  }

  /** The context root's own host calls run with, as the core builds it for forwarded calls. */
  _rootContext() {
    const context = this.server && this.server.hostCallContext();
    if (!context) throw new Error("hypha-core server is not running");
    return context;
  }

  // ================================================================ clients

  async _connectInternal(options) {
    const client = await connectToServer({
      server_url: this.url,
      WebSocketClass: this.WebSocketClass,
      method_timeout: 60,
      logger: QUIET_LOGGER,
      ...options,
    });
    this._clients.add(client);
    return client;
  }

  /** What server mode's in-process HTTP calls need (server/root-calls.js): root's hypha-rpc, and
   * hypha-rpc's own reading of a function's parameter names. */
  _rootCallSupport() {
    return this._root ? { rpc: this._root.rpc, paramNames: getParamNames } : null;
  }

  /** A service by absolute id, through root's client (root administers every workspace). */
  async _getService(id) {
    if (!this._root) throw new Error("hypha-core server is not running");
    return await this._root.getService(id);
  }

  _wrapClient(client, config) {
    const api = {};
    for (const key of Object.keys(client)) api[toCamelCase(key)] = client[key];
    const info = client.config || {};
    api.config = {
      public_base_url: info.public_base_url || this.url,
      workspace: info.workspace || config.workspace,
      client_id: info.client_id || config.client_id,
      local_base_url: info.local_base_url || this.url,
      server_url: this.url,
      manager_id: info.manager_id || this.workspaceManagerId,
      user: info.user,
      hypha_version: info.hypha_version,
      reconnection_token: info.reconnection_token,
      reconnection_token_life_time: info.reconnection_token_life_time,
    };
    if (typeof client.disconnect === "function") {
      api.disconnect = async (...args) => {
        this._clients.delete(client);
        return await client.disconnect(...args);
      };
    }
    return api;
  }

  _buildRootApi(root) {
    const api = this._wrapClient(root, { workspace: "default", client_id: "root" });
    delete api.disconnect; // the root client lives as long as the server: use close()
    const host = () => {
      if (!this._host) throw new Error("hypha-core server is not running");
      return this._host;
    };
    const ctx = () => this._rootContext();
    Object.assign(api, {
      id: "root",
      close: () => this.close(),
      emit: async (type, data) => this._fire(type, data),
      on: (event, handler) => this.on(event, handler),
      off: (event, handler) => this.off(event, handler),
      once: (event, handler) => this.once(event, handler),
      echo: (msg) => msg,
      log: (...args) => console.log(...args),
      info: (...args) => console.info(...args),
      warning: (...args) => console.warn(...args),
      error: (...args) => console.error(...args),
      critical: (...args) => console.error(...args),
      showMessage: (msg) => console.log(msg),
      showProgress: (progress) => console.debug("progress:", progress),
      alert: (msg) => host().alert(msg),
      confirm: (msg) => host().confirm(msg),
      prompt: (msg, defaultValue) => host().prompt(msg, defaultValue),
      registerService: root.registerService,
      unregisterService: root.unregisterService,
      // Root administers every workspace: the Router lists and resolves protected services of
      // any workspace for it, and lets its calls in.
      listServices: root.listServices,
      // Like the reference root API, an unknown service is `null`, not an error.
      getService: async (query, ...rest) => {
        try {
          return await root.getService(query, ...rest);
        } catch (error) {
          if (/Service not found/.test(String(error && error.message))) return null;
          throw error;
        }
      },
      generateToken: root.generateToken,
      loadApp: async (config) => await host().loadApp(typeof config === "string" ? { src: config } : config, ctx()),
      createWindow: async (config) => await host().createWindow(config, ctx()),
      getWindow: async (query) => host().getWindow(query, ctx()),
      getApp: async (query) => await host().getApp(query, ctx()),
      listApps: async () => host().listApps(ctx()),
      closeApp: async (query) => host().closeApp(query, ctx()),
    });
    api.loadPlugin = api.loadApp;
    api.getPlugin = api.getApp;
    return api;
  }

  /** hypha-core's name for the root API (its tests call it): `start()`'s result. */
  _createDirectAPIWrapper() {
    this._requireRunning("_createDirectAPIWrapper");
    return this.api;
  }

  _requireRunning(what) {
    if (this._state === "idle" || !this.server) {
      throw new Error(`hypha-core server is not running (call start() before ${what})`);
    }
  }

  _checkGeneration(generation) {
    if (generation !== this._generation) throw new Error("hypha-core server was closed while starting");
  }
}
