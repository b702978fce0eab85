// HTTP requests between a runtime's server and the wasm Router: numbers them, feeds the Router
// the head and body, and hands its response parts to the request's sink. The runtime drivers
// only adapt their request and response objects to `start()` and a sink.

/** Statuses whose responses carry no body. */
export const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

export class HttpExchanges {
  /** @param server the wasm HyphaServer (server-mode build) */
  constructor(server) {
    this.server = server;
    this.nextId = 1;
    /** id → sink `{head(status, headers), body(chunk, drained), end(), abort()}` */
    this.open = new Map();
    server.setHttpHandler((output) => this._output(output));
  }

  /**
   * A request arrived: `request` `{method, path, query, headers: [[name, value]], remote}`.
   * Returns its id; feed its body with `body()` and `end()`.
   */
  start(request, sink) {
    const id = this.nextId++;
    if (!this.server) {
      sink.head(503, [["content-type", "application/json"]]);
      sink.body(new TextEncoder().encode('{"success":false,"detail":"server closed"}'), () => {});
      sink.end();
      return id;
    }
    this.open.set(id, sink);
    this.server.httpRequest(id, request);
    return id;
  }

  /** Whether the Router still wants request `id`'s body (it stops after an early answer). */
  isOpen(id) {
    return this.open.has(id);
  }

  body(id, chunk) {
    if (this.open.has(id)) this.server.httpBody(id, chunk);
  }

  end(id) {
    if (this.open.has(id)) this.server.httpEnd(id);
  }

  /** The client went away before the response ended. */
  cancel(id) {
    if (this.open.delete(id)) this.server.httpCancel(id);
  }

  /** Abort every open response and stop talking to the server (it is closing). */
  shutdown() {
    this.server = null;
    const sinks = [...this.open.values()];
    this.open.clear();
    for (const sink of sinks) {
      try {
        sink.abort();
      } catch (e) {
        // already gone
      }
    }
  }

  _output(output) {
    const sink = this.open.get(output.id);
    if (!sink) return;
    switch (output.type) {
      case "head":
        sink.head(output.status, output.headers);
        break;
      case "body": {
        const id = output.id;
        // The credit for the next chunk, paid once this one is written (never re-entering the
        // Router from inside its own output delivery).
        sink.body(output.chunk, () => queueMicrotask(() => this.open.has(id) && this.server.httpDrained(id)));
        break;
      }
      case "end":
        this.open.delete(output.id);
        sink.end();
        break;
      case "abort":
        this.open.delete(output.id);
        sink.abort();
        break;
      default:
        break;
    }
  }
}
