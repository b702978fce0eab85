// The postMessage bridge for iframes and web workers (protocol.md §6): the parent side of
// hypha-rpc's setupLocalClient / LocalWebSocket. A port is bound to one Worker object or one
// iframe's contentWindow and to one `workspace/client_id`; messages that name another client
// are dropped, and the child's hello must ask for exactly that address.

import { toArrayBuffer } from "./socket.js";

// Below this a frame is copied rather than transferred: in Chromium, posting a transferred
// ArrayBuffer of a few hundred bytes cost ~30 µs, most of a worker call's main-thread time.
const TRANSFER_MIN_BYTES = 64 * 1024;

export class PortBinding {
  /**
   * @param hub the HyphaCore (`_attach`, `_send`, `_detach`, `_fire`, `connections`)
   * @param opts `{kind: "worker"|"iframe", target, workspace, clientId, origin?}`
   */
  constructor(hub, { kind, target, workspace, clientId, origin }) {
    this.hub = hub;
    this.kind = kind;
    this.target = target;
    this.workspace = workspace;
    this.clientId = clientId;
    this.key = `${workspace}/${clientId}`;
    this.origin = origin || "*";
    this.conn = null; // server connection id once the hello went through
    this.open = false; // the child's LocalWebSocket is connected
    this.readyCount = 0; // hyphaClientReady messages seen
    this.connectCount = 0; // connect messages seen
    this.closed = false;
    this._readyWaiters = [];
    this._detachListener = null;
    this.onReady = null; // set by the iframe handshake
    this.onAppError = null; // set while mounting: the child reported a load error
    this.onDispose = null; // extra clean-up (the legacy bridge's client)
    this.legacy = null; // the imjoy-rpc connection of a legacy app (legacy.js)
    this.token = null; // the token the child was given
    this.appName = null; // the app's name, for app_progress events
  }

  /** Post a message to the child; a large ArrayBuffer in `data` is transferred, a small one copied. */
  post(message) {
    if (this.closed && message.type !== "closed") return;
    const transfer =
      message.data instanceof ArrayBuffer && message.data.byteLength >= TRANSFER_MIN_BYTES ? [message.data] : [];
    try {
      if (this.kind === "worker") this.target.postMessage(message, transfer);
      else this.target.postMessage(message, this.origin, transfer);
    } catch (e) {
      console.error(`hypha-core: cannot post to ${this.key}:`, e);
    }
  }

  /** Resolves on the next hyphaClientReady (or at once if one came already and `past`). */
  whenReady(past = true) {
    if (past && this.readyCount > 0) return Promise.resolve();
    return new Promise((resolve) => this._readyWaiters.push(resolve));
  }

  // ---- transport interface used by the hub ----

  _deliver(data) {
    const payload = typeof data === "string" ? data : toArrayBuffer(data);
    this.post({ type: "message", data: payload, to: this.clientId });
  }

  _serverClose() {
    this.conn = null;
    this.open = false;
    this.post({ type: "closed", to: this.clientId });
  }

  // ---- messages from the child ----

  handle(data) {
    if (this.closed || !data || typeof data !== "object") return;
    const type = data.type;
    if (this.legacy) {
      // A legacy imjoy-rpc app (see legacy.js); the port is bound to its window.
      this.legacy.fire(data);
      return;
    }
    if (type === "initialized" && this.kind === "iframe" && data.workspace === undefined && this.conn === null) {
      this.hub._startLegacyApp(this, data);
      return;
    }
    if (type === "hyphaClientReady") {
      this.readyCount += 1;
      const waiters = this._readyWaiters.splice(0);
      for (const w of waiters) w();
      if (typeof this.onReady === "function") this.onReady();
      this.hub._fire("connection_ready", this.hub.connections[this.key]);
      return;
    }
    if (type === "hyphaAppProgress") {
      // An app template saying how far loading got (web-python: Pyodide boots in seconds).
      const progress = Number(data.progress);
      this.hub._fire("app_progress", {
        workspace: this.workspace,
        client_id: this.clientId,
        name: this.appName,
        stage: String(data.stage).slice(0, 200),
        progress: Number.isFinite(progress) ? Math.min(100, Math.max(0, progress)) : null,
      });
      return;
    }
    if (type === "hyphaAppError") {
      // An app template reporting that its code failed while loading (see js/templates/).
      if (typeof this.onAppError === "function") this.onAppError(String(data.error).slice(0, 4000));
      return;
    }
    if (type !== "connect" && type !== "message" && type !== "close") return;
    // LocalWebSocket names itself in every message; it must be the client bound to this port.
    if (data.from !== this.clientId || data.workspace !== this.workspace) {
      console.warn(
        `hypha-core: dropped a ${type} message from the port of ${this.key} naming ${data.workspace}/${data.from}`,
      );
      return;
    }
    if (type === "connect") {
      this.connectCount += 1;
      this._dropConnection();
      this.open = true;
      this.post({ type: "connected", to: this.clientId });
    } else if (type === "message") {
      if (!this.open) return;
      if (this.conn === null) this._hello(data.data);
      else this.hub._send(this.conn, data.data);
    } else {
      this._dropConnection();
      this.open = false;
      this.post({ type: "closed", to: this.clientId });
    }
  }

  _hello(text) {
    let hello = null;
    if (typeof text === "string") {
      try {
        hello = JSON.parse(text);
      } catch (e) {
        hello = null;
      }
    }
    const sameClient =
      hello &&
      typeof hello === "object" &&
      hello.client_id === this.clientId &&
      (hello.workspace === undefined || hello.workspace === null || hello.workspace === this.workspace);
    if (!sameClient) {
      console.warn(`hypha-core: refused a hello on the port of ${this.key} that asks for another client`);
      this.post({
        type: "message",
        data: JSON.stringify({
          type: "error",
          message: `this port may only connect as ${this.key}`,
        }),
        to: this.clientId,
      });
      this._serverClose();
      return;
    }
    this.conn = this.hub._attach(this, text);
  }

  _dropConnection() {
    if (this.conn !== null) {
      const conn = this.conn;
      this.conn = null;
      this.hub._detach(conn);
    }
  }

  /** Unbind: close the server side, tell the child, stop listening. */
  dispose(notify = true) {
    if (this.closed) return;
    const wasOpen = this.open || this.conn !== null;
    this._dropConnection();
    this.open = false;
    if (notify && wasOpen) this.post({ type: "closed", to: this.clientId });
    this.closed = true;
    if (typeof this.onDispose === "function") this.onDispose();
    this.onDispose = null;
    if (this._detachListener) this._detachListener();
    this._detachListener = null;
  }
}
