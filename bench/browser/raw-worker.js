// Baseline worker: sends every message straight back (structured clone, no RPC, no server).
self.onmessage = (event) => self.postMessage(event.data);
