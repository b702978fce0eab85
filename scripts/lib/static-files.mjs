// What every static server of this repo shares (scripts/serve.mjs, bench/browser/lib.mjs,
// tests/refspecs/serve-site.mjs and cdn-mirror.mjs): content types, and mapping a URL path to a
// file without leaving a root.
import { extname, resolve, sep } from "node:path";

const CONTENT_TYPES = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".cjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
};

/** The Content-Type of `file`, by its extension. */
export function contentType(file) {
  return CONTENT_TYPES[extname(file).toLowerCase()] || "application/octet-stream";
}

/**
 * The file under `root` that the URL path `urlPath` names (percent-decoded), or null when it is
 * malformed (bad escapes, NUL, backslashes, `..` segments) or would leave `root`.
 */
export function fileUnder(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\") || decoded.split("/").includes("..")) return null;
  const file = resolve(root, ...decoded.split("/").filter((s) => s && s !== "."));
  return file === root || file.startsWith(root + sep) ? file : null;
}
