// Server mode in Node: `node:http` for HTTP, the `ws` package for /ws.

import { framedSink } from "./http-exchanges.js";
import { SocketTransport, closeAll } from "./transport.js";

/** Largest WebSocket message accepted (hypha-rpc chunks anything bigger through message_cache). */
const MAX_WS_PAYLOAD = 16 * 1024 * 1024;

/**
 * Listen on `host:port`; returns `{listening: Promise<{port}>, close(): Promise<void>}`.
 * `hub` is the HyphaCore, `exchanges` the HttpExchanges of its wasm server.
 */
export function listenNode({ host, port, hub, exchanges }) {
  const sockets = new Set();
  let httpServer = null;
  let wss = null;
  const listening = (async () => {
    const http = await import(/* webpackIgnore: true */ /* @vite-ignore */ ["node", "http"].join(":"));
    const { WebSocketServer } = await import(/* webpackIgnore: true */ /* @vite-ignore */ "ws");
    wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_PAYLOAD });
    httpServer = http.createServer((req, res) => serveHttp(req, res, exchanges));
    httpServer.on("upgrade", (req, socket, head) => {
      const path = (req.url || "").split("?")[0];
      if (path !== "/ws") {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const transport = new SocketTransport(
          hub,
          (data) => ws.send(data),
          (code, reason) => ws.close(code, reason),
        );
        sockets.add(transport);
        ws.on("message", (data, isBinary) => {
          if (!isBinary) transport.received(data.toString("utf8"));
          else transport.received(Array.isArray(data) ? Buffer.concat(data) : new Uint8Array(data));
        });
        ws.on("close", () => {
          sockets.delete(transport);
          transport.closed();
        });
        ws.on("error", () => {});
      });
    });
    await new Promise((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(port, host, () => {
        httpServer.off("error", reject);
        resolve();
      });
    });
    return { port: httpServer.address().port };
  })();
  return {
    listening,
    async close() {
      // What touches the hub happens now, before HyphaCore frees its server.
      closeAll(sockets);
      exchanges.shutdown();
      await listening.catch(() => {});
      if (wss) for (const ws of wss.clients) ws.terminate();
      if (!httpServer) return;
      const closed = new Promise((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
      await closed;
    },
  };
}

function serveHttp(req, res, exchanges) {
  const url = new URL(req.url || "/", "http://localhost");
  let finished = false;
  // A request that declares no body (no transfer-encoding, no or a zero content-length: RFC 9112
  // §6.3) has none, and is handed over ended: one call into the server, as in Deno.
  const length = req.headers["content-length"];
  const complete = req.headers["transfer-encoding"] === undefined && (length === undefined || length === "0");
  const id = exchanges.start(
    {
      method: req.method || "GET",
      path: url.pathname,
      query: url.search.slice(1),
      headers: req.rawHeaders,
      remote: req.socket.remoteAddress ? `${req.socket.remoteAddress}:${req.socket.remotePort}` : undefined,
      complete,
    },
    // A complete answer is one body with its content-length, in one write; a stream is chunked.
    framedSink({
      complete(status, pairs, body) {
        finished = true;
        if (body === null) {
          res.writeHead(status, pairs.flat());
          res.end();
          return;
        }
        res.writeHead(status, [...pairs.flat(), "content-length", String(body.length)]);
        res.end(body);
      },
      open(status, pairs) {
        res.writeHead(status, pairs.flat());
      },
      write(chunk, drained) {
        if (res.write(chunk)) drained();
        else res.once("drain", drained);
      },
      end() {
        finished = true;
        if (!res.writableEnded) res.end();
      },
      abort() {
        finished = true;
        res.destroy();
      },
    }),
  );
  res.on("close", () => {
    if (!finished) exchanges.cancel(id);
  });
  req.on("error", () => exchanges.cancel(id));
  if (complete) {
    req.resume();
    return;
  }
  req.on("data", (chunk) => {
    if (exchanges.isOpen(id)) exchanges.body(id, chunk);
  });
  req.on("end", () => exchanges.end(id));
}
