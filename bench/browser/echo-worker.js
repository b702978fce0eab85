// Benchmark worker: a hypha-rpc client (setupLocalClient over postMessage) exporting `echo`.
// Used identically for both implementations, by mountWorker() and by loadApp({type: "web-worker"}).
// hypha-rpc comes from the bench server (/vendor/hypha-rpc/), never from a CDN.
importScripts("/vendor/hypha-rpc/hypha-rpc-websocket.min.js");

hyphaWebsocketClient
  .setupLocalClient({ enable_execution: false })
  .then((api) => api.export({ name: "bench echo worker", echo: (x) => x }))
  .catch((e) => console.error("echo worker: setup failed:", e));
