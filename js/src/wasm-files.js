// Finding a .wasm file of this package: next to the module that asks (the dist bundle and its
// chunks), else in pkg/ (running from js/src). Shared by the server and the plugin parser.

async function readFileBytes(url) {
  if (typeof Deno !== "undefined" && typeof Deno.readFile === "function") {
    return await Deno.readFile(url);
  }
  // Hidden from bundlers: this branch only ever runs in Node.
  const fsModule = ["node", "fs/promises"].join(":");
  const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule);
  return await fs.readFile(url);
}

/**
 * What to hand wasm-bindgen's `init` for `fileName`, looked up relative to `moduleUrl` (the
 * caller's `import.meta.url`): a URL over http(s), bytes from a file. `source` overrides it: a
 * URL, bytes, a `WebAssembly.Module` or a `Response`.
 */
export async function locateWasm(fileName, moduleUrl, source) {
  if (source !== undefined && source !== null) {
    if (typeof source === "string" || source instanceof URL) {
      const url = new URL(source, moduleUrl);
      return url.protocol === "file:" ? await readFileBytes(url) : url;
    }
    return source;
  }
  const urls = [new URL(fileName, moduleUrl), new URL(`../../pkg/${fileName}`, moduleUrl)];
  if (urls[0].protocol !== "file:") return urls[0];
  let lastError = null;
  for (const url of urls) {
    try {
      return await readFileBytes(url);
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
