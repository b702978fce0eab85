// hypha-core's server mode, under hypha-core's names: `new HyphaCore({url, ServerClass:
// DenoWebSocketServer, WebSocketClass: DenoWebSocketClient, jwtSecret, defaultService})` listens
// on `url`; hypha-rpc clients connect at /ws and the HTTP service API answers everything else.
// Every decision is the Rust Router's (the server-mode wasm build, with the HTTP API): this
// class only carries bytes between the runtime's server (Deno.serve, or node:http + ws) and it.

import { HttpExchanges } from "./http-exchanges.js";
import { listenDeno } from "./listen-deno.js";
import { listenNode } from "./listen-node.js";
import { RootCalls } from "./root-calls.js";
import { loadHyphaServer } from "./wasm.js";

const isDeno = typeof Deno !== "undefined" && typeof Deno.serve === "function";

export class DenoWebSocketServer {
  /**
   * The wasm `HyphaServer` class HyphaCore must use with this server (the build that has the
   * HTTP API). `source` overrides where its .wasm is (a URL, bytes or a Module).
   */
  static loadHyphaServer(source) {
    return loadHyphaServer(source);
  }

  /**
   * Start listening on `url`'s host and port (`ws://host:port/ws` or `http://host:port`).
   * `options.hyphaCore`: the HyphaCore whose server this serves (HyphaCore passes itself).
   */
  constructor(url, options = {}) {
    const hub = options.hyphaCore;
    if (!hub || !hub.server || typeof hub.server.setHttpHandler !== "function") {
      throw new Error(
        "DenoWebSocketServer serves a started HyphaCore: new HyphaCore({url, ServerClass: DenoWebSocketServer}).start(), " +
          "or new DenoWebSocketServer(url, {hyphaCore}) after start() in a process that imported hypha-core-rs/deno-websocket-server first",
      );
    }
    const parsed = new URL(url);
    this.host = parsed.hostname.replace(/^\[|\]$/g, "");
    const secure = parsed.protocol === "wss:" || parsed.protocol === "https:";
    this.port = parsed.port ? Number(parsed.port) : secure ? 443 : 80;
    this.options = options;
    let rootCalls = null;
    this._exchanges = new HttpExchanges(hub.server, (call) => rootCalls.take(call));
    rootCalls = new RootCalls(hub, this._exchanges);
    const listen = isDeno ? listenDeno : listenNode;
    this._listener = listen({ host: this.host, port: this.port, hub, exchanges: this._exchanges });
    this._closed = null;
    /** Resolves with `{port}` once the server accepts connections. */
    this.listening = this._listener.listening.then((addr) => {
      this.port = addr.port;
      return addr;
    });
    // hypha-core's other form: `new DenoWebSocketServer(url, {hyphaCore})` after start(), on a
    // HyphaCore without ServerClass. Its close() then stops this server too.
    if (!hub._listener) hub._listener = this;
  }

  /**
   * Stop listening, close every WebSocket (1001) and abort open HTTP responses; resolves once the
   * runtime's server has stopped, so the process can exit.
   */
  close() {
    if (!this._closed) this._closed = this._listener.close();
    return this._closed;
  }
}

/**
 * hypha-core's client class for this server. Accepted for compatibility: HyphaCore's own clients
 * (root, `connect()`) reach the server in-process; other programs use hypha-rpc's
 * `connectToServer` with the server's ws:// URL.
 */
export class DenoWebSocketClient {
  constructor(url, protocols) {
    return new WebSocket(url, protocols);
  }
}
