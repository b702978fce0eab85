// Environment detection and small helpers shared by the facade modules.

/** True in a page (window + document + navigator), false in workers, Node and Deno. */
export function isBrowser() {
  return (
    typeof window !== "undefined" &&
    typeof document !== "undefined" &&
    typeof navigator !== "undefined"
  );
}

/** 'browser' | 'deno' | 'node' | 'unknown', as hypha-core reports it. */
export function detectEnvironment() {
  if (isBrowser()) return "browser";
  if (typeof Deno !== "undefined") return "deno";
  if (typeof process !== "undefined" && process.versions && process.versions.node) return "node";
  return "unknown";
}

/** Throw the error every DOM-only feature raises outside a browser page. */
export function requireBrowser(feature) {
  if (!isBrowser()) {
    const error = new Error(
      `${feature} requires browser environment. Currently running in: ${detectEnvironment()}`,
    );
    error.code = "BROWSER_REQUIRED";
    throw error;
  }
}

/** Random lowercase id (base 36), `n` characters, from crypto.getRandomValues. */
export function randId(n = 12) {
  const bytes = new Uint8Array(n);
  globalThis.crypto.getRandomValues(bytes);
  let out = "";
  for (const b of bytes) out += (b % 36).toString(36);
  return out;
}

/** `bytes` random bytes as hex (the default JWT secret is 32 of them). */
export function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function toCamelCase(s) {
  return s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

export function toSnakeCase(s) {
  return s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * hypha-rpc reads `WebSocket.OPEN` & co. from the global even when it is given its own socket
 * class. Where there is no global WebSocket (Node 20), install a stand-in that only carries the
 * readyState constants; constructing it fails with a clear message.
 */
export function ensureWebSocketConstants() {
  if (typeof globalThis.WebSocket !== "undefined") return;
  class WebSocketUnavailable {
    constructor() {
      throw new Error(
        "WebSocket is not available in this environment; hypha-core uses its in-page sockets",
      );
    }
  }
  for (const [name, value] of [["CONNECTING", 0], ["OPEN", 1], ["CLOSING", 2], ["CLOSED", 3]]) {
    Object.defineProperty(WebSocketUnavailable, name, { value, enumerable: true });
  }
  globalThis.WebSocket = WebSocketUnavailable;
}
