// The server-mode build of the Rust Router (feature `http`: the HTTP service API), loaded once
// per process. The in-tab bundle never imports this: a page downloads only its own module.

import init, { HyphaServer } from "../../../pkg/hypha_core_server.js";
import { locateWasm } from "../wasm-files.js";

let loading = null;

/**
 * Where HyphaCore finds this build when it was started without `ServerClass` (hypha-core's
 * `new DenoWebSocketServer(url, {hyphaCore})` on an already started HyphaCore): registered when
 * this module is imported, so a process that never imports server mode never loads it.
 */
export const SERVER_BUILD_KEY = Symbol.for("hypha-core-rs.loadHyphaServer");
globalThis[SERVER_BUILD_KEY] = (source) => loadHyphaServer(source);

/** The `HyphaServer` class of the server-mode module; `source` overrides where the .wasm is. */
export function loadHyphaServer(source) {
  if (!loading) {
    loading = (async () => {
      const url = new URL("./hypha_core_server_bg.wasm", import.meta.url);
      await init({ module_or_path: await locateWasm(url, source) });
      return HyphaServer;
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}
