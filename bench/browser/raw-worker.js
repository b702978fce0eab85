// Baseline worker: sends every message straight back (structured clone, no RPC, no server).
// With `?rpc` in its URL it first loads hypha-rpc (as echo-worker.js does) and posts "ready":
// the floor of what mounting a hypha-rpc worker can cost.
if (self.location.search.includes("rpc")) {
  importScripts("/vendor/hypha-rpc/hypha-rpc-websocket.min.js");
  self.postMessage("ready");
}
self.onmessage = (event) => self.postMessage(event.data);
