// Server mode in Deno: `Deno.serve` for HTTP, `Deno.upgradeWebSocket` for /ws.

import { NULL_BODY_STATUSES } from "./http-exchanges.js";
import { SocketTransport, closeAll } from "./transport.js";

/**
 * Listen on `host:port`; returns `{listening: Promise<{port}>, close(): Promise<void>}`.
 * `hub` is the HyphaCore, `exchanges` the HttpExchanges of its wasm server.
 */
export function listenDeno({ host, port, hub, exchanges }) {
  const sockets = new Set();
  const abort = new AbortController();
  let onListen;
  const listening = new Promise((resolve) => {
    onListen = resolve;
  });
  const server = Deno.serve(
    { hostname: host, port, signal: abort.signal, onListen: (addr) => onListen({ port: addr.port }) },
    (request, info) => {
      const url = new URL(request.url);
      if (url.pathname === "/ws" && (request.headers.get("upgrade") || "").toLowerCase() === "websocket") {
        const { socket, response } = Deno.upgradeWebSocket(request);
        socket.binaryType = "arraybuffer";
        const transport = new SocketTransport(
          hub,
          (data) => socket.send(data),
          (code, reason) => closeDenoSocket(socket, code, reason),
        );
        sockets.add(transport);
        socket.onmessage = (event) =>
          transport.received(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
        socket.onclose = () => {
          sockets.delete(transport);
          transport.closed();
        };
        socket.onerror = () => {};
        return response;
      }
      return serveHttp(request, url, info, exchanges);
    },
  );
  return {
    listening,
    async close() {
      closeAll(sockets);
      exchanges.shutdown();
      abort.abort();
      await server.finished.catch(() => {});
    },
  };
}

/** Deno's WebSocket refuses the protocol's own codes (1001, 1008…) from `close()`. */
function closeDenoSocket(socket, code, reason) {
  try {
    socket.close(code, reason);
  } catch (e) {
    socket.close(code >= 3000 ? 1000 : 4000 + (code % 1000), reason);
  }
}

function serveHttp(request, url, info, exchanges) {
  let respond;
  const response = new Promise((resolve) => {
    respond = resolve;
  });
  // An answer whose end comes in the same delivery from the Router as its head (every answer but
  // a stream) goes out as one buffer: Deno sends a fixed-length body at once, where a
  // ReadableStream body costs stream machinery and chunked encoding per request. An answer still
  // open once that delivery is over (a microtask later) streams.
  let status = 0;
  let headers = null;
  let held = null; // [chunk, drained] received before the answer is committed
  let controller = null; // once streaming
  let owed = [];
  const payOwed = () => {
    const due = owed;
    owed = [];
    for (const drained of due) drained();
  };
  const write = (chunk, drained) => {
    controller.enqueue(chunk);
    if (controller.desiredSize > 0) drained();
    else owed.push(drained);
  };
  let id = 0;
  const stream = () => {
    if (controller) return;
    const body = new ReadableStream({
      start(c) {
        controller = c;
      },
      pull: payOwed,
      cancel: () => exchanges.cancel(id),
    });
    respond(new Response(body, { status, headers }));
    const early = held || [];
    held = null;
    for (const [chunk, drained] of early) write(chunk, drained);
  };
  const remote = info && info.remoteAddr ? `${info.remoteAddr.hostname}:${info.remoteAddr.port}` : undefined;
  id = exchanges.start(
    {
      method: request.method,
      path: url.pathname,
      query: url.search.slice(1),
      headers: [...request.headers],
      remote,
    },
    {
      head(s, h) {
        status = s;
        headers = h;
        if (NULL_BODY_STATUSES.has(status)) {
          respond(new Response(null, { status, headers }));
          return;
        }
        held = [];
        queueMicrotask(() => held && stream());
      },
      body(chunk, drained) {
        if (held) held.push([chunk, drained]);
        else if (controller) write(chunk, drained);
      },
      end() {
        if (held) {
          const chunks = held.map(([chunk]) => chunk);
          held = null;
          respond(new Response(chunks.length === 1 ? chunks[0] : concat(chunks), { status, headers }));
        } else if (controller) controller.close();
      },
      abort() {
        if (held) stream();
        if (controller) controller.error(new Error("response aborted"));
      },
    },
  );
  // The client leaving before the end cancels the request (`completed` rejects then; older Deno
  // only has the signal, which also fires after a complete response: cancel is a no-op then).
  if (info && info.completed) info.completed.catch(() => exchanges.cancel(id));
  else request.signal.addEventListener("abort", () => exchanges.cancel(id));
  feedBody(request, id, exchanges);
  return response;
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

async function feedBody(request, id, exchanges) {
  try {
    if (request.body) {
      for await (const chunk of request.body) {
        if (!exchanges.isOpen(id)) return;
        exchanges.body(id, chunk);
      }
    }
    exchanges.end(id);
  } catch (e) {
    exchanges.cancel(id);
  }
}
