// Finding a .wasm file of this package. The caller writes `new URL("./<file>.wasm",
// import.meta.url)` itself, literally: Vite and webpack 5 recognise that expression, emit the
// file as an asset and rewrite the URL to it (hashed name included); a static server or a CDN
// serves it next to the module; Node and Deno read it from disk, falling back to pkg/ when
// running from js/src. Shared by the server and the plugin parser.

async function readFileBytes(url) {
  if (typeof Deno !== "undefined" && typeof Deno.readFile === "function") {
    return await Deno.readFile(url);
  }
  // Node. Out of bundlers' sight (a minified `import(expr)` loses its webpackIgnore comment and
  // webpack warns about it): process.getBuiltinModule (Node >= 20.16), else an import() built at
  // run time, as hypha-rpc loads its requirements.
  const proc = globalThis.process;
  const fs =
    proc && typeof proc.getBuiltinModule === "function"
      ? proc.getBuiltinModule("node:fs/promises")
      : await new Function("specifier", "return import(specifier)")("node:fs/promises");
  return await fs.readFile(url);
}

/** Where a relative `wasm` option is resolved: the page (or worker) in a browser, else `fallback`. */
function baseForOption(fallback) {
  if (typeof document !== "undefined" && document.baseURI) return document.baseURI;
  const location = globalThis.location;
  if (location && typeof location.href === "string" && /^(https?|blob):/.test(location.href)) return location.href;
  return fallback;
}

/**
 * What to hand wasm-bindgen's `init` for the .wasm at `url` (the caller's literal
 * `new URL("./<file>.wasm", import.meta.url)`): that URL unless it is a `file:` URL, else the
 * file's bytes (from `url`, or from `pkg/` beside `js/` when running from `js/src`). `source`
 * overrides it: a URL (relative to the page in a browser, to `url` elsewhere), bytes, a
 * `WebAssembly.Module` or a `Response`.
 */
export async function locateWasm(url, source) {
  if (source !== undefined && source !== null) {
    if (typeof source === "string" || source instanceof URL) {
      const resolved = new URL(source, baseForOption(url));
      return resolved.protocol === "file:" ? await readFileBytes(resolved) : resolved;
    }
    return source;
  }
  if (url.protocol !== "file:") return url;
  const fileName = url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
  const urls = [url, new URL(`../../pkg/${fileName}`, url)];
  let lastError = null;
  for (const candidate of urls) {
    try {
      return await readFileBytes(candidate);
    } catch (e) {
      lastError = e;
    }
  }
  const error = new Error(
    `cannot find ${fileName} (looked at ${urls.map(String).join(", ")}): ${lastError && lastError.message}`,
  );
  error.code = "WASM_NOT_FOUND";
  throw error;
}
