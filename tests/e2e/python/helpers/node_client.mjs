// A Node client of the cluster tests (test_cluster.py): connects with the npm hypha-rpc client,
// subscribes to an event, calls `add`, a callback and a generator of a service (possibly held by
// another server), and prints one JSON line with what it saw.
//
//   node node_client.mjs '{"server_url", "token", "workspace", "client_id", "service"}'
import { hyphaWebsocketClient } from "hypha-rpc";

const opts = JSON.parse(process.argv[2]);
const server = await hyphaWebsocketClient.connectToServer({
  server_url: opts.server_url,
  token: opts.token,
  workspace: opts.workspace,
  client_id: opts.client_id,
  method_timeout: 20,
});
const svc = await server.getService(opts.service);
const out = {
  add: await svc.add(40, 2),
  callback: await svc.apply(async (v) => v * 3, 7),
  generated: [],
};
for await (const value of await svc.count(3)) out.generated.push(value);
console.log(JSON.stringify(out));
await server.disconnect();
process.exit(0);
