// Server mode in Deno: `Deno.serve` for HTTP, `Deno.upgradeWebSocket` for /ws.

import { framedSink } from "./http-exchanges.js";
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
  // A complete answer is one buffer (Deno sends a fixed-length body at once); a stream is a
  // ReadableStream body, read no faster than the client takes it.
  let controller = null; // once streaming
  let owed = [];
  const payOwed = () => {
    const due = owed;
    owed = [];
    for (const drained of due) drained();
  };
  let id = 0;
  const remote = info && info.remoteAddr ? `${info.remoteAddr.hostname}:${info.remoteAddr.port}` : undefined;
  // A request without a body (a plain GET) is handed over ended, in one call into the server.
  const complete = request.body === null;
  // forEach, not for…of: the same pairs, without Deno's iterator objects (~3 µs a request).
  const headers = [];
  request.headers.forEach((value, name) => headers.push(name, value));
  id = exchanges.start(
    {
      method: request.method,
      path: url.pathname,
      query: url.search.slice(1),
      headers,
      remote,
      complete,
    },
    framedSink({
      complete(status, headers, body) {
        respond(new Response(body, { status, headers }));
      },
      open(status, headers) {
        const body = new ReadableStream({
          start(c) {
            controller = c;
          },
          pull: payOwed,
          cancel: () => exchanges.cancel(id),
        });
        respond(new Response(body, { status, headers }));
      },
      write(chunk, drained) {
        if (!controller) return;
        controller.enqueue(chunk);
        if (controller.desiredSize > 0) drained();
        else owed.push(drained);
      },
      end() {
        if (controller) controller.close();
      },
      abort() {
        if (controller) controller.error(new Error("response aborted"));
      },
    }),
  );
  // The client leaving before the end cancels the request (`completed` rejects then; older Deno
  // only has the signal, which also fires after a complete response: cancel is a no-op then).
  if (info && info.completed) info.completed.catch(() => exchanges.cancel(id));
  else request.signal.addEventListener("abort", () => exchanges.cancel(id));
  if (!complete) feedBody(request, id, exchanges);
  return response;
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
