#!/usr/bin/env node
// An offline stand-in for the CDNs that hypha-core@0.20.86's pages and templates load from
// (tests/refspecs/run.sh), built from npm packages only.
//
//   node tests/refspecs/cdn-mirror.mjs prepare --cache DIR
//       npm pack + unpack every package of the table below into DIR (each skipped when already
//       there) and make a self-signed certificate for the mirrored hosts (openssl).
//   node tests/refspecs/cdn-mirror.mjs serve --cache DIR [--port 0] [--host 127.0.0.1]
//       serve them over HTTPS; prints `SERVING https://<host>:<port>` once listening.
//   node tests/refspecs/cdn-mirror.mjs hosts      the mirrored host names, comma-separated
//   node tests/refspecs/cdn-mirror.mjs table      which URL prefix comes from which package file
//
// The browser is pointed here with Chromium's --host-resolver-rules (MAP <host>:443 → this
// server) and --ignore-certificate-errors (playwright.config.mjs). A request is answered from
// the first route whose host and path prefix match, with the rest of the path looked up in the
// package; anything else on a mirrored host is a 404 (the same quick failure as offline). Hosts
// not in the table (if.imjoy.io, the hypha logo on raw.githubusercontent.com/amun-ai, pyodide)
// are not mirrored at all and still fail at DNS. Every answer has the right Content-Type and
// `Access-Control-Allow-Origin: *` (workers importScripts these files cross-origin; module
// scripts need CORS).
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, promises as fs, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import { join, resolve } from "node:path";
import { contentType, fileUnder } from "../../scripts/lib/static-files.mjs";

/** npm packages, by "name@version" (exact versions: the cache is keyed by them). */
export const PACKAGES = ["winbox@0.2.82", "three@0.134.0", "vanta@0.5.24", "hypha-rpc@0.20.32", "hypha-rpc@0.21.19", "imjoy-core@0.14.5"];

/**
 * host + path prefix → package + folder in it. `requested` is what the page asks for when the
 * package served differs from it (told at start-up, and in the README).
 */
export const ROUTES = [
  // lite.html: <script src=".../winbox/0.2.82/dist/winbox.bundle.min.js">. githack serves the
  // GitHub repo at tag 0.2.82, whose dist/ is what the npm package ships.
  { host: "rawcdn.githack.com", prefix: "/nextapps-de/winbox/0.2.82/", pkg: "winbox@0.2.82", dir: "" },
  // lite.html: three.js r134 from cdnjs = three@0.134.0's build/.
  { host: "cdnjs.cloudflare.com", prefix: "/ajax/libs/three.js/r134/", pkg: "three@0.134.0", dir: "build/" },
  // lite.html: vanta@latest/dist/vanta.birds.min.js; 0.5.24 is npm's latest.
  { host: "cdn.jsdelivr.net", prefix: "/npm/vanta@latest/", pkg: "vanta@0.5.24", dir: "", requested: "vanta@latest" },
  // hypha-app-iframe.html (reference template) and standalone-app-example.html ask for 0.20.26,
  // which the npm registry here does not have: the nearest later 0.20.x it has.
  { host: "cdn.jsdelivr.net", prefix: "/npm/hypha-rpc@0.20.26/", pkg: "hypha-rpc@0.20.32", dir: "", requested: "hypha-rpc@0.20.26" },
  // hypha-app-webworker.js (reference template) and test-worker.js ask for 0.21.9, also missing:
  // the nearest later 0.21.x.
  { host: "cdn.jsdelivr.net", prefix: "/npm/hypha-rpc@0.21.9/", pkg: "hypha-rpc@0.21.19", dir: "", requested: "hypha-rpc@0.21.9" },
  // iframe-webworker-integration.test.js loads imjoy-core's plugin templates from GitHub master;
  // npm's latest imjoy-core ships the same src/plugins/*.imjoy.html.
  { host: "raw.githubusercontent.com", prefix: "/imjoy-team/imjoy-core/master/", pkg: "imjoy-core@0.14.5", dir: "", requested: "imjoy-core@master (GitHub)" },
];

// Any cdn.jsdelivr.net/npm/<name>@<version>/<path> of a package above at its exact version.
for (const pkg of PACKAGES) ROUTES.push({ host: "cdn.jsdelivr.net", prefix: `/npm/${pkg}/`, pkg, dir: "", exact: true });

export const HOSTS = [...new Set(ROUTES.map((r) => r.host))];


const pkgDir = (cache, pkg) => join(cache, pkg.replace("/", "__"), "package");
const splitPkg = (pkg) => {
  const at = pkg.lastIndexOf("@");
  return { name: pkg.slice(0, at), version: pkg.slice(at + 1) };
};

function log(message) {
  process.stderr.write(`[cdn-mirror] ${message}\n`);
}

function prepare(cache) {
  mkdirSync(cache, { recursive: true });
  for (const pkg of PACKAGES) {
    const dir = pkgDir(cache, pkg);
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).version === splitPkg(pkg).version) continue;
    const into = resolve(dir, "..");
    log(`npm pack ${pkg} into ${into}`);
    rmSync(into, { recursive: true, force: true });
    mkdirSync(into, { recursive: true });
    const out = execFileSync("npm", ["pack", "--silent", pkg], { cwd: into, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    const tarball = out.trim().split("\n").pop();
    if (!tarball || !existsSync(join(into, tarball))) throw new Error(`npm pack ${pkg} made no tarball`);
    execFileSync("tar", ["-xzf", tarball], { cwd: into, stdio: "inherit" });
    rmSync(join(into, tarball));
    if (!existsSync(manifest)) throw new Error(`${pkg}: no package/package.json in its tarball`);
  }
  for (const route of ROUTES) {
    const probe = { "winbox@0.2.82": "dist/winbox.bundle.min.js", "three@0.134.0": "build/three.min.js", "vanta@0.5.24": "dist/vanta.birds.min.js" }[route.pkg];
    if (probe && !existsSync(join(pkgDir(cache, route.pkg), probe))) throw new Error(`${route.pkg} has no ${probe}`);
  }
  const key = join(cache, "key.pem");
  const cert = join(cache, "cert.pem");
  const want = HOSTS.map((h) => `DNS:${h}`).join(",");
  const have = existsSync(cert) ? execFileSync("openssl", ["x509", "-in", cert, "-noout", "-ext", "subjectAltName"], { encoding: "utf8" }) : "";
  if (!existsSync(key) || !HOSTS.every((h) => have.includes(`DNS:${h}`))) {
    log(`openssl: self-signed certificate for ${HOSTS.join(", ")}`);
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-keyout", key, "-out", cert,
        "-subj", "/CN=refspecs-cdn-mirror", "-addext", `subjectAltName=${want}`],
      { stdio: ["ignore", "pipe", "pipe"] }, // its progress dots go to stderr; shown on failure
    );
  }
}

function table(cache) {
  const lines = ROUTES.filter((r) => !r.exact).map((r) => {
    const from = `https://${r.host}${r.prefix}…`;
    const to = `${r.pkg}/${r.dir}…`;
    const note = r.requested ? `  (asked: ${r.requested})` : "";
    return `${from} → ${to}${note}${cache && !existsSync(pkgDir(cache, r.pkg)) ? "  [not in cache]" : ""}`;
  });
  lines.push(`https://cdn.jsdelivr.net/npm/<name>@<version>/… → that package, for ${PACKAGES.join(", ")}`);
  return lines;
}

/** The file a request maps to, or null. */
function fileFor(cache, host, pathname) {
  const route = ROUTES.find((r) => r.host === host && pathname.startsWith(r.prefix));
  if (!route) return null;
  return fileUnder(join(pkgDir(cache, route.pkg), route.dir), pathname.slice(route.prefix.length));
}

function serve(cache, port, host) {
  const counts = new Map();
  const server = createServer(
    { key: readFileSync(join(cache, "key.pem")), cert: readFileSync(join(cache, "cert.pem")) },
    (req, res) => {
      res.setHeader("Access-Control-Allow-Origin", "*");
      res.setHeader("Cross-Origin-Resource-Policy", "cross-origin");
      res.setHeader("Cache-Control", "no-store");
      if (req.method === "OPTIONS") {
        res.writeHead(204, { "Access-Control-Allow-Methods": "GET, HEAD", "Access-Control-Allow-Headers": "*" }).end();
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET, HEAD" }).end();
        return;
      }
      const reqHost = String(req.headers.host || "").replace(/:\d+$/, "").toLowerCase();
      const pathname = new URL(req.url, "https://x").pathname;
      const file = fileFor(cache, reqHost, pathname);
      const done = (status) => {
        const key = `${status} ${reqHost}${pathname}`;
        if (!counts.has(key)) log(key);
        counts.set(key, (counts.get(key) || 0) + 1);
      };
      (file ? fs.stat(file).catch(() => null) : Promise.resolve(null)).then((stat) => {
        if (!stat || !stat.isFile()) {
          done(404);
          res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not in the mirror");
          return;
        }
        done(200);
        res.writeHead(200, {
          "Content-Type": contentType(file),
          "Content-Length": stat.size,
        });
        if (req.method === "HEAD") res.end();
        else createReadStream(file).pipe(res);
      });
    },
  );
  server.listen(port, host, () => console.log(`SERVING https://${host}:${server.address().port}`));
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
}

function main(argv) {
  const [command, ...rest] = argv;
  const opts = { cache: null, port: 0, host: "127.0.0.1" };
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--cache") opts.cache = resolve(rest[++i]);
    else if (rest[i] === "--port") opts.port = Number(rest[++i]);
    else if (rest[i] === "--host") opts.host = rest[++i];
    else throw new Error(`unknown argument: ${rest[i]}`);
  }
  const needCache = () => {
    if (!opts.cache) throw new Error(`${command} needs --cache DIR`);
    return opts.cache;
  };
  if (command === "prepare") prepare(needCache());
  else if (command === "serve") serve(needCache(), opts.port, opts.host);
  else if (command === "hosts") console.log(HOSTS.join(","));
  else if (command === "table") console.log(table(opts.cache).join("\n"));
  else throw new Error("usage: cdn-mirror.mjs prepare|serve|hosts|table [--cache DIR] [--port N] [--host H]");
}

try {
  main(process.argv.slice(2));
} catch (error) {
  log(`ERROR ${error.message}`);
  process.exit(2);
}
