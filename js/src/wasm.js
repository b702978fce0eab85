// Loads the server's WebAssembly once per JS realm and hands out the HyphaServer class; loads the
// plugin parser's module on demand.

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
      await init({ module_or_path: await locateWasm("hypha_core_bg.wasm", import.meta.url, source) });
      return HyphaServer;
    })();
    loading.catch(() => {
      loading = null; // let a later start() retry, e.g. with another `wasm` option
    });
  }
  return loading;
}

/** Where the parser's entry is: the dist chunk next to the bundle, or the source file. */
const PLUGIN_PARSER_ENTRIES = ["./hypha-core-plugin.mjs", "./plugin-parser.js"];
let parser = null;

/** The plugin-source parser (`{parsePlugin, isPluginSource}`), imported on first use. */
export function pluginParser() {
  if (!parser) {
    parser = (async () => {
      let lastError = null;
      for (const entry of PLUGIN_PARSER_ENTRIES) {
        let module;
        try {
          // A computed specifier: bundlers leave the chunk to be fetched at run time.
          module = await import(/* webpackIgnore: true */ /* @vite-ignore */ new URL(entry, import.meta.url).href);
        } catch (e) {
          lastError = e;
          continue;
        }
        return await module.loadPluginParser();
      }
      throw new Error(`cannot load the plugin parser: ${lastError && lastError.message}`);
    })();
    parser.catch(() => {
      parser = null;
    });
  }
  return parser;
}
