// hypha-core (Rust/WebAssembly edition): the public entry point.
export { HyphaCore } from "./hypha-core.js";
export { connectToServer, hyphaWebsocketClient } from "hypha-rpc";
