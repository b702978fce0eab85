// Serves each built consumer page from its own static server on 127.0.0.1, opens it in Chromium
// (playwright-core) and prints one line per check: "ok - NAME: CHECK" or "not ok - NAME: CHECK:
// ERROR". Used by bundlers.sh.
//
// Usage: node check-pages.mjs NAME=DIR|NAME=URL ...   (each DIR has an index.html; a URL is a page
//        served by someone else, e.g. Vite's dev server)

import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { chromium } from "playwright-core";

const CHROME = process.env.CHROME_BIN || "/usr/bin/chromium";
const PAGE_TIMEOUT_MS = 60000;
const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
  ".json": "application/json",
};

function serve(dir) {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (path.endsWith("/")) path += "index.html";
    const file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream", "cache-control": "no-store" });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

const pages = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf("=");
  return { name: arg.slice(0, at), dir: arg.slice(at + 1) };
});
let failed = 0;
const line = (ok, name, check, error) => {
  if (!ok) failed += 1;
  console.log(`${ok ? "ok" : "not ok"} - ${name}: ${check}${ok ? "" : `: ${error}`}`);
};

const browser = await chromium.launch({ executablePath: CHROME, args: ["--no-sandbox"] });
try {
  for (const { name, dir } of pages) {
    const server = /^https?:/.test(dir) ? null : await serve(dir);
    const url = server ? `http://127.0.0.1:${server.address().port}/` : dir;
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${new URL(r.url()).pathname}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    try {
      await page.goto(url);
      await page.waitForFunction(() => window.__consumerResults, null, { timeout: PAGE_TIMEOUT_MS });
      const results = await page.evaluate(() => window.__consumerResults);
      for (const r of results) {
        line(r.ok, name, r.name, r.ok ? "" : r.error + (problems.length ? ` [${problems.join("; ")}]` : ""));
      }
    } catch (e) {
      line(false, name, "page", `${e.message.split("\n")[0]}${problems.length ? ` [${problems.join("; ")}]` : ""}`);
    } finally {
      await context.close();
      if (server) await new Promise((ok) => server.close(ok));
    }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
