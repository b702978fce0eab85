// Loads the server's WebAssembly once per JS realm and hands out the HyphaServer class; loads the
// plugin parser's module on demand.
//
// Both are found in ways bundlers understand: the .wasm through the literal
// `new URL("./hypha_core_bg.wasm", import.meta.url)` (Vite and webpack 5 emit it as an asset and
// rewrite the URL; scripts/build-js.mjs checks it survives into dist/hypha-core.mjs), the parser
// through a literal dynamic `import()` (the build points it at the dist chunk
// ./hypha-core-plugin.mjs and leaves it external, so bundlers make it a lazy chunk of their own).

import init, { HyphaServer } from "../../pkg/hypha_core.js";
import { locateWasm } from "./wasm-files.js";

let loading = null;

/**
 * Instantiate the wasm module (once; later calls share the first load). `source` overrides where
 * it comes from: a URL, bytes, a `WebAssembly.Module` or a `Response`.
 */
export function loadServerModule(source) {
  if (!loading) {
    loading = (async () => {
      const url = new URL("./hypha_core_bg.wasm", import.meta.url);
      await init({ module_or_path: await locateWasm(url, source) });
      return HyphaServer;
    })();
    loading.catch(() => {
      loading = null; // let a later start() retry, e.g. with another `wasm` option
    });
  }
  return loading;
}

let parser = null;

/** The plugin-source parser (`{parsePlugin, isPluginSource}`), imported on first use. */
export function pluginParser() {
  if (!parser) {
    parser = (async () => {
      let module;
      try {
        // dist: ./hypha-core-plugin.mjs (see scripts/build-js.mjs).
        module = await import("./plugin-parser.js");
      } catch (e) {
        throw new Error(`cannot load the plugin parser: ${e && e.message}`);
      }
      return await module.loadPluginParser();
    })();
    parser.catch(() => {
      parser = null;
    });
  }
  return parser;
}
