// HTTP requests between a runtime's server and the wasm Router: numbers them, feeds the Router
// the head and body, and hands its response parts to the request's sink. The runtime drivers
// only adapt their request and response objects to `start()` and a sink.

import { Decoder, Encoder } from "@msgpack/msgpack";

/** `onHttp(kind, bytes)` kinds (src/bridge/http.rs): a whole answer, a call to run in-process. */
const PACKED_COMPLETE = 1;
const PACKED_CALL = 2;
const decoder = new Decoder();
/** Packs request heads; its buffer is reused (the wasm copies a head before anything else runs). */
const encoder = new Encoder();

/** Statuses whose responses carry no body. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * The sink `start()` takes, deciding how an answer is framed, over a runtime's response
 * `writer`. An answer the Router hands over whole (`whole()`), or whose end comes in the same
 * delivery as its head (every answer but a stream), is written whole,
 * `writer.complete(status, headers, body)`: one
 * buffer with its length, where streaming costs chunked encoding and a write per part (Deno:
 * stream machinery too). One still open a microtask later streams: `writer.open(status,
 * headers)`, `writer.write(chunk, drained)`, `writer.end()`. A null-body status is complete at
 * once (`body` null); `writer.abort()` ends either kind, a held answer being opened first.
 */
export function framedSink(writer) {
  let status = 0;
  let headers = null;
  let held = null; // [chunk, drained] received before the answer is committed
  const open = () => {
    const early = held;
    held = null;
    writer.open(status, headers);
    for (const [chunk, drained] of early) writer.write(chunk, drained);
  };
  return {
    /** A whole answer at once: nothing to hold, no microtask to wait for. */
    whole(s, h, body) {
      // A fresh empty body each time: a runtime may take over (detach) the buffer it is given.
      writer.complete(s, h, NULL_BODY_STATUSES.has(s) ? null : body || new Uint8Array(0));
    },
    head(s, h) {
      if (NULL_BODY_STATUSES.has(s)) {
        writer.complete(s, h, null);
        return;
      }
      status = s;
      headers = h;
      held = [];
      queueMicrotask(() => held && open());
    },
    body(chunk, drained) {
      if (held) held.push([chunk, drained]);
      else writer.write(chunk, drained);
    },
    end() {
      if (!held) {
        writer.end();
        return;
      }
      const chunks = held.map(([chunk]) => chunk);
      held = null;
      writer.complete(status, headers, chunks.length === 1 ? chunks[0] : concat(chunks));
    },
    abort() {
      if (held) open();
      writer.abort();
    },
  };
}

function concat(chunks) {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export class HttpExchanges {
  /**
   * @param server the wasm HyphaServer (server-mode build)
   * @param onCall takes the Router's calls to root's own functions (`{id, method, context, args,
   *   withKwargs}`), which it answers with `server.httpLocal`
   */
  constructor(server, onCall) {
    this.server = server;
    this.onCall = onCall;
    this.nextId = 1;
    /** id → sink `{head(status, headers), body(chunk, drained), end(), abort()}` */
    this.open = new Map();
    server.setHttpHandler((output, packed) => (packed ? this._packed(output, packed) : this._output(output)));
  }

  /**
   * A request arrived: `request` `{method, path, query, headers: [name, value, name, value, ...],
   * remote, complete}` (`complete`: it has no body). Returns its id; feed a body with `body()`
   * and `end()`.
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
    const { method, path, query, headers, remote, complete } = request;
    this.server.httpRequest(
      id,
      encoder.encodeSharedRef([method, path, query || "", headers, remote ?? null, complete === true]),
    );
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

  /** A whole answer or a call to run in-process, as msgpack `bytes` (decoded in one go). */
  _packed(kind, bytes) {
    if (kind === PACKED_CALL) {
      const [id, method, context, args, withKwargs] = decoder.decode(bytes);
      this.onCall({ id, method, context, args, withKwargs });
      return;
    }
    if (kind !== PACKED_COMPLETE) return;
    const [id, status, headers, body] = decoder.decode(bytes);
    const sink = this.open.get(id);
    if (!sink) return;
    // Head, body and end in one (no credit to pay: the answer is over).
    this.open.delete(id);
    if (sink.whole) {
      sink.whole(status, headers, body);
      return;
    }
    sink.head(status, headers);
    if (body) sink.body(body, () => {});
    sink.end();
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
