// Type declarations for hypha-core-rs/deno-websocket-server: hypha-core's server mode. Passed to
// HyphaCore as `ServerClass`, it listens on the HyphaCore's `url` (Deno.serve in Deno, node:http
// and `ws` in Node): hypha-rpc clients at /ws, the HTTP service API on every other path.

export interface DenoWebSocketServerOptions {
  /** The HyphaCore whose server this listens for (HyphaCore passes itself from `start()`). */
  hyphaCore?: unknown;
  [key: string]: unknown;
}

/** Listens on the host and port of `url` (`ws://host:port/ws` or `http://host:port`). */
export declare class DenoWebSocketServer {
  /** The server-mode wasm build HyphaCore uses with this class; `source` overrides its location. */
  static loadHyphaServer(source?: unknown): Promise<unknown>;
  constructor(url: string, options?: DenoWebSocketServerOptions);
  readonly host: string;
  /** The port it listens on (the actual one once `listening` resolved, e.g. for port 0). */
  port: number;
  /** Resolves once the server accepts connections. */
  readonly listening: Promise<{ port: number }>;
  /** Stop listening, close every client connection and open response; resolves when stopped. */
  close(): Promise<void>;
}

/**
 * hypha-core's client class for this server, accepted for compatibility (HyphaCore's own clients
 * connect in-process): a standard `WebSocket` to `url`.
 */
export declare class DenoWebSocketClient {
  constructor(url: string, protocols?: string | string[]);
}
