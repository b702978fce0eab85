// `hypha-core-rs/deno-websocket-server`: hypha-core's server mode (Deno and Node).
export { DenoWebSocketServer, DenoWebSocketClient } from "./deno-websocket-server.js";
