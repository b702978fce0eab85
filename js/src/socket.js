// The in-tab socket: a WebSocket-shaped class that hypha-rpc's connectToServer drives
// (`WebSocketClass`), connected straight to one HyphaCore's wasm server. Every event is
// dispatched asynchronously, as a real WebSocket does, so nothing re-enters the server.

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** A frame from the server as a socket with `binaryType` delivers it. */
export function toArrayBuffer(data) {
  if (data instanceof ArrayBuffer) return data;
  if (ArrayBuffer.isView(data)) {
    const { buffer, byteOffset, byteLength } = data;
    if (byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) {
      return buffer;
    }
    return buffer.slice(byteOffset, byteOffset + byteLength);
  }
  return data;
}

/** A socket class bound to `hub` (the HyphaCore): `new Socket(url)` opens a connection to it. */
export function createSocketClass(hub) {
  class HyphaCoreSocket {
    constructor(url, protocols) {
      this.url = String(url);
      this.protocol = typeof protocols === "string" ? protocols : "";
      this.extensions = "";
      this.bufferedAmount = 0;
      this.binaryType = "blob";
      this.readyState = CONNECTING;
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      this._listeners = new Map();
      this._conn = null; // connection id, once the hello frame went through
      this._dead = false; // closed by either side: nothing more is sent
      // While the server is not running a socket never opens: hypha-rpc clients that try to
      // reconnect after close() then wait quietly instead of retrying on a timer forever.
      if (!hub._acceptsSockets()) return;
      hub._sockets.add(this);
      setTimeout(() => {
        if (this.readyState !== CONNECTING) return;
        if (!hub._acceptsSockets()) {
          hub._sockets.delete(this);
          return;
        }
        this.readyState = OPEN;
        this._dispatch("open", { type: "open", target: this });
      }, 0);
    }

    send(data) {
      if (this.readyState === CONNECTING) {
        const error = new Error("Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.");
        error.name = "InvalidStateError";
        throw error;
      }
      if (this.readyState !== OPEN || this._dead) return;
      if (this._conn === null) {
        if (typeof data !== "string") {
          this._serverClose(1003, "the first frame must be the JSON authentication text");
          return;
        }
        this._conn = hub._attach(this, data);
      } else {
        hub._send(this._conn, data);
      }
    }

    close(code = 1000, reason = "") {
      if (this.readyState === CLOSING || this.readyState === CLOSED) return;
      const wasConnecting = this.readyState === CONNECTING;
      this.readyState = CLOSING;
      this._dead = true;
      if (this._conn !== null) hub._detach(this._conn);
      hub._sockets.delete(this);
      queueMicrotask(() => {
        this.readyState = CLOSED;
        this._dispatch("close", {
          type: "close",
          code: wasConnecting ? 1006 : code,
          reason: String(reason || ""),
          wasClean: !wasConnecting,
          target: this,
        });
      });
    }

    addEventListener(type, listener) {
      if (typeof listener !== "function") return;
      if (!this._listeners.has(type)) this._listeners.set(type, new Set());
      this._listeners.get(type).add(listener);
    }

    removeEventListener(type, listener) {
      const set = this._listeners.get(type);
      if (set) set.delete(listener);
    }

    // ---- called by the hub (HyphaCore) ----

    /** A frame for this socket (string or bytes), delivered after everything queued before. */
    _deliver(data) {
      queueMicrotask(() => {
        if (this.readyState !== OPEN) return;
        let payload = data;
        if (typeof data !== "string") {
          payload = toArrayBuffer(data);
          if (this.binaryType === "blob" && typeof Blob !== "undefined") payload = new Blob([payload]);
        }
        this._dispatch("message", { type: "message", data: payload, target: this });
      });
    }

    /** The server closes this connection (after the frames already queued). */
    _serverClose(code, reason) {
      if (this._dead) return;
      this._dead = true;
      hub._sockets.delete(this);
      queueMicrotask(() => {
        if (this.readyState === CLOSED) return;
        this.readyState = CLOSED;
        this._dispatch("close", {
          type: "close",
          code,
          reason: String(reason || ""),
          wasClean: true,
          target: this,
        });
      });
    }

    _dispatch(type, event) {
      const handler = this["on" + type];
      if (typeof handler === "function") {
        try {
          handler.call(this, event);
        } catch (e) {
          console.error(`hypha-core socket ${type} handler failed:`, e);
        }
      }
      const set = this._listeners.get(type);
      if (set) {
        for (const listener of [...set]) {
          try {
            listener.call(this, event);
          } catch (e) {
            console.error(`hypha-core socket ${type} listener failed:`, e);
          }
        }
      }
    }
  }
  for (const [name, value] of [["CONNECTING", CONNECTING], ["OPEN", OPEN], ["CLOSING", CLOSING], ["CLOSED", CLOSED]]) {
    Object.defineProperty(HyphaCoreSocket, name, { value, enumerable: true });
    Object.defineProperty(HyphaCoreSocket.prototype, name, { value, enumerable: true });
  }
  return HyphaCoreSocket;
}
