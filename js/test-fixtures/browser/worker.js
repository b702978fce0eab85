importScripts("/node_modules/hypha-rpc/dist/hypha-rpc-websocket.min.js");
hyphaWebsocketClient.setupLocalClient({ enable_execution: false }).then(async (api) => {
  await api.export({
    name: "test worker",
    greet: (name) => `hello ${name} from the worker`,
    whoami: () => ({ workspace: api.config.workspace, client_id: api.config.client_id }),
  });
});
