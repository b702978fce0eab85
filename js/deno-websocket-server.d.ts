// Type declarations for hypha-core-rs/deno-websocket-server: a real WebSocket server for Deno in
// front of a HyphaCore, shaped like hypha-core@0.20.86's module of the same name (the part of it
// a server needs: construct, listen for connections, close).

export interface DenoWebSocketServerOptions {
  /** The HyphaCore whose clients connect through this server. */
  hyphaCore?: unknown;
  [key: string]: unknown;
}

/** Listens on the host and port of `url` (`ws://host:port/ws`) from construction on. */
export declare class DenoWebSocketServer {
  constructor(url: string, options?: DenoWebSocketServerOptions);
  /** Stop listening and close every client connection. */
  close(): Promise<void>;
  /** `connection`: a client connected (the handler receives its socket). */
  on(event: "connection" | (string & {}), handler: (socket: unknown) => void): void;
}

/** A WebSocket client of such a server: `new DenoWebSocketClient("ws://host:port/ws")`. */
export declare class DenoWebSocketClient {
  constructor(url: string);
}
