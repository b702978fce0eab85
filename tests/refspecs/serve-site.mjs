#!/usr/bin/env node
// Serves one folder over HTTP for the reference's Playwright specs (tests/refspecs/run.sh).
//
//   node tests/refspecs/serve-site.mjs ROOT [--port 8080] [--host 127.0.0.1]
//
// Like the reference's webpack dev server: every file under ROOT at its own path, `/` and
// directories serve their index.html, `Access-Control-Allow-Origin: *` on every answer.
// GET/HEAD only; paths that leave ROOT are refused. Prints `SERVING http://<host>:<port>`.
import { createReadStream, promises as fs } from "node:fs";
import { createServer } from "node:http";
import { join, resolve } from "node:path";

import { contentType, fileUnder } from "../../scripts/lib/static-files.mjs";


function parseArgs(argv) {
  const opts = { root: null, port: 8080, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") opts.port = Number(argv[++i]);
    else if (arg === "--host") opts.host = argv[++i];
    else if (!arg.startsWith("-") && opts.root === null) opts.root = resolve(arg);
    else throw new Error(`unknown argument: ${arg}`);
  }
  if (!opts.root) throw new Error("usage: serve-site.mjs ROOT [--port 8080] [--host 127.0.0.1]");
  return opts;
}

async function handle(root, req, res) {
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Cache-Control", "no-store");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD" }).end();
    return;
  }
  let file = fileUnder(root, new URL(req.url, "http://x").pathname);
  if (!file) {
    res.writeHead(400).end("bad path");
    return;
  }
  let stat = await fs.stat(file).catch(() => null);
  if (stat && stat.isDirectory()) {
    file = join(file, "index.html");
    stat = await fs.stat(file).catch(() => null);
  }
  if (!stat || !stat.isFile()) {
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found");
    return;
  }
  res.writeHead(200, {
    "Content-Type": contentType(file),
    "Content-Length": stat.size,
  });
  if (req.method === "HEAD") res.end();
  else createReadStream(file).pipe(res);
}

const opts = parseArgs(process.argv.slice(2));
const server = createServer((req, res) => {
  handle(opts.root, req, res).catch((error) => {
    if (!res.headersSent) res.writeHead(500);
    res.end(String(error));
  });
});
server.listen(opts.port, opts.host, () => {
  console.log(`SERVING http://${opts.host}:${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
