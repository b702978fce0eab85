// Runs a Hypha/ImJoy `web-worker` plugin inside a Web Worker started by HyphaCore's loadApp.
//
// hypha-rpc comes from the build, next to this file (no CDN). setupLocalClient connects back to
// the page over postMessage; when the page sends `initializeHyphaClient` with the parsed plugin
// as `config`, hypha-rpc evaluates each `config.scripts` entry (JavaScript only) with the
// connected client as the global `api`. The plugin registers its own `default` service with
// `api.export(...)`; this template exports nothing itself.
//
// When the page starts this worker from another origin (a CDN build), it loads it through a
// blob: shim that sets `self.HYPHA_APP_BASE_URL` first, because a blob: location cannot resolve
// relative URLs.
(function () {
  const base = self.HYPHA_APP_BASE_URL || self.location.href;
  importScripts(new URL("hypha-rpc-websocket.min.js", base).href);
  const report = (error) =>
    self.postMessage({ type: "hyphaAppError", error: String((error && (error.stack || error.message)) || error) });
  self.addEventListener("error", (event) => report(event.error || event.message));
  self.addEventListener("unhandledrejection", (event) => report(event.reason));
  hyphaWebsocketClient.setupLocalClient({ enable_execution: true }).catch(report);
})();
