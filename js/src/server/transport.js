// One WebSocket client of the server: the transport the HyphaCore hub (`_attach`, `_send`,
// `_detach`) drives. The runtime drivers (Deno, Node) only adapt their socket's API to it.

/** How long an upgraded socket may take to send its hello before it is closed. */
export const HELLO_TIMEOUT_MS = 10000;

export class SocketTransport {
  /**
   * @param hub the HyphaCore
   * @param send (data: string | Uint8Array) => void on the runtime's socket
   * @param close (code: number, reason: string) => void on the runtime's socket
   */
  constructor(hub, send, close) {
    this.hub = hub;
    this.conn = null;
    this.dead = false;
    this._send = send;
    this._close = close;
    this._helloTimer = setTimeout(() => {
      if (this.conn === null) this._serverClose(1008, "no authentication frame within 10 s");
    }, HELLO_TIMEOUT_MS);
  }

  /** A frame from the client: the first is the JSON hello, then RPC frames. */
  received(data) {
    if (this.dead) return;
    if (this.conn === null) {
      clearTimeout(this._helloTimer);
      if (typeof data !== "string") {
        this._serverClose(1003, "the first frame must be the JSON authentication text");
        return;
      }
      if (!this.hub._acceptsSockets()) {
        this._serverClose(1001, "server closed");
        return;
      }
      this.conn = this.hub._attach(this, data);
      return;
    }
    this.hub._send(this.conn, data);
  }

  /** The client's socket closed. */
  closed() {
    clearTimeout(this._helloTimer);
    this.dead = true;
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) this.hub._detach(conn);
  }

  // ---- called by the hub ----

  _deliver(data) {
    if (this.dead) return;
    try {
      this._send(data);
    } catch (e) {
      this._serverClose(1011, "send failed");
    }
  }

  _serverClose(code, reason) {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this._helloTimer);
    try {
      this._close(code, String(reason || "").slice(0, 120));
    } catch (e) {
      // already closed
    }
  }
}

/** Close every transport in `sockets` (1001) and forget them: the server is closing. */
export function closeAll(sockets) {
  for (const transport of [...sockets]) transport._serverClose(1001, "server closed");
  sockets.clear();
}
