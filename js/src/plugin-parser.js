// The plugin parser (Rust, its own wasm module: hypha_core_plugin_bg.wasm), bundled as the chunk
// dist/hypha-core-plugin.mjs and imported only when an app may be plugin source, so a page that
// loads no plugins never downloads it.

import init, { isPluginSource, parsePlugin } from "../../pkg/hypha_core_plugin.js";
import { locateWasm } from "./wasm-files.js";

let loading = null;

/** Instantiate the parser (once) and resolve with `{parsePlugin, isPluginSource}`. */
export function loadPluginParser() {
  if (!loading) {
    loading = (async () => {
      // Literal, for bundlers (see wasm.js).
      const url = new URL("./hypha_core_plugin_bg.wasm", import.meta.url);
      await init({ module_or_path: await locateWasm(url) });
      return { parsePlugin, isPluginSource };
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}
