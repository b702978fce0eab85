#!/usr/bin/env node
// A tiny dependency-free static server for the demo and the browser tests.
//
//   node scripts/serve.mjs [--port 8000] [--host 127.0.0.1]
//
//   /                      → www/            (the demo, its apps and the test fixtures)
//   /dist/                 → dist/           (hypha-core.mjs + hypha_core_bg.wasm)
//   /vendor/hypha-rpc/     → node_modules/hypha-rpc/dist/  (what apps, iframes and workers load)
//   /vendor/imjoy-rpc/     → node_modules/imjoy-rpc/dist/  (what the legacy ImJoy example app loads)
//
// `--port 0` picks a free port. Prints `SERVING http://<host>:<port>` once listening.
// GET/HEAD only; no directory listing (a directory serves its index.html or 404); paths that
// leave their root (`..`, encoded or not, backslashes, NUL) are refused with 400/404.
import { createReadStream, promises as fs } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { contentType } from "./lib/static-files.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** URL prefix → directory on disk; the longest matching prefix wins. */
const MOUNTS = [
  ["/vendor/hypha-rpc/", join(REPO, "node_modules", "hypha-rpc", "dist")],
  ["/vendor/imjoy-rpc/", join(REPO, "node_modules", "imjoy-rpc", "dist")],
  ["/dist/", join(REPO, "dist")],
  ["/", join(REPO, "www")],
];


function parseArgs(argv) {
  const opts = { port: 8000, host: "127.0.0.1", quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (name === "--port" || name === "-p") opts.port = Number(value());
    else if (name === "--host") opts.host = value();
    else if (name === "--quiet" || name === "-q") opts.quiet = true;
    else if (name === "--help" || name === "-h") {
      console.log("usage: node scripts/serve.mjs [--port 8000] [--host 127.0.0.1] [--quiet]");
      process.exit(0);
    } else {
      console.error(`serve.mjs: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    console.error("serve.mjs: --port must be an integer in 0..65535");
    process.exit(2);
  }
  return opts;
}

/** The file a URL path names, or null if it names none (or tries to leave its root). */
function resolvePath(pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch (e) {
    return { status: 400 };
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return { status: 400 };
  const segments = decoded.split("/");
  if (segments.some((s) => s === "..")) return { status: 400 };
  for (const [prefix, root] of MOUNTS) {
    if (decoded !== prefix.slice(0, -1) && !decoded.startsWith(prefix)) continue;
    const rest = decoded.slice(prefix.length).split("/").filter((s) => s && s !== ".");
    const file = resolve(root, ...rest);
    if (file !== root && !file.startsWith(root + sep)) return { status: 400 };
    return { file, root, directoryRequest: decoded.endsWith("/") };
  }
  return { status: 404 };
}

function send(res, status, text, headOnly) {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(headOnly ? undefined : text + "\n");
}

async function handle(req, res, log) {
  const headOnly = req.method === "HEAD";
  if (req.method !== "GET" && !headOnly) {
    res.setHeader("allow", "GET, HEAD");
    return send(res, 405, "method not allowed", headOnly);
  }
  let url;
  try {
    url = new URL(req.url, "http://localhost");
  } catch (e) {
    return send(res, 400, "bad request", headOnly);
  }
  const target = resolvePath(url.pathname);
  if (target.status) return send(res, target.status, target.status === 400 ? "bad request" : "not found", headOnly);
  let file = target.file;
  let stat;
  try {
    stat = await fs.stat(file);
    if (stat.isDirectory()) {
      // No listing: a directory only serves its index.html, and only when asked with a slash.
      if (!target.directoryRequest) {
        res.writeHead(301, { location: url.pathname + "/" + url.search, "cache-control": "no-store" });
        return res.end();
      }
      file = join(file, "index.html");
      stat = await fs.stat(file);
    }
    if (!stat.isFile()) throw new Error("not a file");
    // Symlinks must not lead out of the mount either.
    const real = await fs.realpath(file);
    const realRoot = await fs.realpath(target.root);
    if (real !== realRoot && !real.startsWith(realRoot + sep)) throw new Error("outside root");
  } catch (e) {
    return send(res, 404, "not found", headOnly);
  }
  // Revalidated on every use (no-cache), answered 304 when unchanged: a second web-python app
  // reuses the browser's copy of Pyodide's 14 MB instead of downloading it again.
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, { etag, "cache-control": "no-cache" });
    return res.end();
  }
  res.writeHead(200, {
    "content-type": contentType(file),
    "content-length": stat.size,
    "cache-control": "no-cache",
    etag,
    "x-content-type-options": "nosniff",
  });
  if (headOnly) return res.end();
  const stream = createReadStream(file);
  stream.on("error", () => res.destroy());
  stream.pipe(res);
  if (log) console.log(`${req.method} ${url.pathname} 200`);
}

const opts = parseArgs(process.argv.slice(2));
const server = createServer((req, res) => {
  handle(req, res, !opts.quiet && process.env.SERVE_LOG === "1").catch((e) => {
    console.error("serve.mjs:", e);
    if (!res.headersSent) send(res, 500, "internal error");
    else res.destroy();
  });
});
server.on("error", (e) => {
  console.error(`serve.mjs: ${e.message}`);
  process.exit(1);
});
server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  console.log(`SERVING http://${host}:${port}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
