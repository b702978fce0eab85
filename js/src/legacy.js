// Legacy ImJoy apps: an iframe app that speaks imjoy-rpc (it posts `{type: "initialized"}`
// instead of hypha-rpc's `hyphaClientReady`) is bridged into the server.
//
// The app gets its own hypha-rpc client, connected with the identity its window was mounted with,
// so every core function it calls (`showMessage`, `registerService`, `getService`, `createWindow`
// ...) reaches the workspace manager as that client: the server, not the page, decides what it
// may do. Those functions are offered to the app through imjoy-rpc with camelCase names; what the
// app exports (`api.export({...})`) becomes the client's `default` service. imjoy-rpc's page side
// (dist/hypha-core-imjoy.mjs) is imported only when such an app appears.

let imjoyModule = null;

function loadImjoyRpc() {
  if (!imjoyModule) {
    // A literal import, so bundlers make it a lazy chunk; in dist it is ./hypha-core-imjoy.mjs
    // (scripts/build-js.mjs).
    imjoyModule = import("./imjoy-rpc-core.js");
    imjoyModule.catch(() => {
      imjoyModule = null;
    });
  }
  return imjoyModule;
}

/** The functions of a hypha-rpc client, by camelCase name, that a legacy app may call. */
function coreInterface(client) {
  const api = {};
  for (const [key, value] of Object.entries(client)) {
    if (typeof value !== "function" || key.startsWith("_") || key.includes("_")) continue;
    if (key === "disconnect" || key === "export") continue;
    api[key] = (...args) => value(...args);
  }
  return api;
}

/** The functions of the app's imjoy-rpc interface, as a hypha-rpc service body. */
function exportedFunctions(remote) {
  const out = {};
  for (const [key, value] of Object.entries(remote || {})) {
    if (typeof value === "function" && !key.startsWith("_")) out[key] = (...args) => value(...args);
  }
  return out;
}

/**
 * Bridge the legacy app behind `binding` (a PortBinding of an iframe) whose first message was
 * `initialized`. `connect(options)` opens a hypha-rpc client on this server. Resolves once the
 * app's interface is registered as `workspace/clientId:default`; the bridge ends with `dispose()`.
 */
export async function bridgeLegacyApp(binding, initialized, connect) {
  if (initialized.error) throw new Error(`the imjoy-rpc app failed to start: ${initialized.error}`);
  if (typeof initialized.peer_id !== "string" || !initialized.peer_id) {
    throw new Error("the imjoy-rpc app sent no peer_id");
  }
  const { RPC } = await loadImjoyRpc();
  const client = await connect({
    client_id: binding.clientId,
    workspace: binding.workspace,
    token: binding.token,
  });
  const handlers = {};
  const connection = {
    peer_id: initialized.peer_id,
    fire(message) {
      const handler = handlers[message.type];
      if (handler) handler(message);
    },
    on(event, handler) {
      handlers[event] = handler;
    },
    emit(message) {
      message.peer_id = connection.peer_id;
      binding.target.postMessage(message, binding.origin);
    },
    disconnect() {},
    async execute(code) {
      connection.emit({ type: "execute", code });
    },
  };
  const config = (initialized.config && typeof initialized.config === "object" && initialized.config) || {};
  const rpc = new RPC(connection, { name: "core" });
  binding.legacy = connection;
  binding.onDispose = () => {
    binding.legacy = null;
    Promise.resolve(client.disconnect()).catch(() => {});
  };
  rpc.setInterface(coreInterface(client));
  await new Promise((resolve, reject) => {
    rpc.on("interfaceSetAsRemote", () => {
      rpc.on("remoteReady", async () => {
        try {
          await client.registerService({
            ...exportedFunctions(rpc.getRemote()),
            id: "default",
            name: typeof config.name === "string" ? config.name : binding.clientId,
            type: "imjoy",
            config: { visibility: "protected" },
          });
          resolve();
        } catch (error) {
          reject(error);
        }
      });
      rpc.requestRemote();
    });
    rpc.sendInterface();
  });
}
