// Loads the server's WebAssembly once per JS realm and hands out the HyphaServer class.

import init, * as wasmExports from "../../pkg/hypha_core.js";

const { HyphaServer } = wasmExports;

const WASM_FILE = "hypha_core_bg.wasm";
let loading = null;

/** Where the .wasm may be, first match wins: next to this module (the dist bundle), then pkg/. */
function candidateUrls() {
  return [new URL(WASM_FILE, import.meta.url), new URL(`../../pkg/${WASM_FILE}`, import.meta.url)];
}

async function readFileBytes(url) {
  if (typeof Deno !== "undefined" && typeof Deno.readFile === "function") {
    return await Deno.readFile(url);
  }
  // Hidden from bundlers: this branch only ever runs in Node.
  const fsModule = ["node", "fs/promises"].join(":");
  const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule);
  return await fs.readFile(url);
}

async function locate(source) {
  if (source !== undefined && source !== null) {
    if (typeof source === "string" || source instanceof URL) {
      const url = new URL(source, import.meta.url);
      return url.protocol === "file:" ? await readFileBytes(url) : url;
    }
    return source; // bytes, a WebAssembly.Module or a Response
  }
  const urls = candidateUrls();
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
    `cannot find ${WASM_FILE} (looked at ${urls.map(String).join(", ")}): ${lastError && lastError.message}`,
  );
  error.code = "WASM_NOT_FOUND";
  throw error;
}

/**
 * Instantiate the wasm module (once; later calls share the first load). `source` overrides where
 * it comes from: a URL, bytes, a `WebAssembly.Module` or a `Response`.
 */
export function loadServerModule(source) {
  if (!loading) {
    loading = (async () => {
      await init({ module_or_path: await locate(source) });
      return HyphaServer;
    })();
    loading.catch(() => {
      loading = null; // let a later start() retry, e.g. with another `wasm` option
    });
  }
  return loading;
}

/**
 * The plugin-source parser of the wasm module (`{parsePlugin, isPluginSource}`); the module must
 * have been loaded by `loadServerModule` (a running server has).
 */
export async function pluginParser() {
  if (!loading) throw new Error("hypha-core server is not running");
  await loading;
  const { parsePlugin, isPluginSource } = wasmExports;
  if (typeof parsePlugin !== "function" || typeof isPluginSource !== "function") {
    throw new Error("this build of hypha-core has no plugin parser");
  }
  return { parsePlugin, isPluginSource };
}
