// hypha-core's server mode as its users run it (the seed README's example, serve.mjs), under Node
// and under Deno: hypha-rpc's JS client over /ws and plain HTTP, the callers' real identities as
// context, and close() on SIGTERM letting the process exit by itself.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, it } from "node:test";
import { hyphaWebsocketClient } from "hypha-rpc";
import { runtimes, startServerMode } from "./runtime.mjs";

const T = { timeout: 60000 };

function userToken(secret, sub) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub, workspace: `ws-user-${sub}`, roles: [], scope: "", iat: now, exp: now + 600, iss: "hypha-core", aud: "hypha-api" };
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(payload)}`;
  return `${body}.${crypto.createHmac("sha256", secret).update(body).digest("base64url")}`;
}

for (const runtime of runtimes()) {
  describe(`server mode in ${runtime}`, () => {
    let server;
    const clients = [];
    const connect = async (opts = {}) => {
      const client = await hyphaWebsocketClient.connectToServer({
        server_url: server.wsUrl,
        method_timeout: 15,
        logger: null,
        ...opts,
      });
      clients.push(client);
      return client;
    };
    before(async () => {
      server = await startServerMode(runtime);
    });
    after(async () => {
      for (const c of clients) await c.disconnect().catch(() => {});
      if (server) await server.stop();
    });

    it("serves hypha-rpc clients at /ws, defaultService with the caller's identity", T, async () => {
      const client = await connect();
      const me = client.config.user.id;
      assert.equal(await client.hello("js"), `Hello, js! (${me} in ${client.config.workspace})`);
      const who = await client.whoami();
      assert.equal(who.from, `${client.config.workspace}/${client.config.client_id}`);
      const calc = await client.getService("default/root:calc");
      assert.equal(await calc.add(2, 3), 5);
      assert.equal(await calc.caller(), me);
    });

    it("lets clients reach each other through the server", T, async () => {
      const token = userToken(server.secret, "alice");
      const provider = await connect({ token });
      await provider.registerService({
        id: "greeter",
        config: { visibility: "public", require_context: true },
        greet: (name, context) => `hi ${name} from ${context.user.id}`,
      });
      const caller = await connect();
      const greeter = await caller.getService(`${provider.config.workspace}/${provider.config.client_id}:greeter`);
      assert.equal(await greeter.greet("bob"), `hi bob from ${caller.config.user.id}`);
    });

    it("answers the HTTP service API from the same Router", T, async () => {
      const health = await fetch(`${server.url}/health`).then((r) => r.json());
      assert.equal(health.status, "ok");
      const add = await fetch(`${server.url}/default/services/calc/add?a=9&b=22`);
      assert.equal(add.status, 200);
      assert.equal(await add.json(), 31);
      // An anonymous HTTP caller, then a token holder: the provider sees who calls.
      assert.equal(await fetch(`${server.url}/default/services/calc/caller`).then((r) => r.json()), "anonymouz-http");
      const token = userToken(server.secret, "carol");
      const asCarol = await fetch(`${server.url}/default/services/calc/caller`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(await asCarol.json(), "carol");
      // defaultService functions over HTTP, through the manager.
      const hello = await fetch(`${server.url}/ws-anonymous/services/ws/hello?name=http`).then((r) => r.json());
      assert.equal(hello, "Hello, http! (anonymouz-http in ws-anonymous)");
      // A forged token is refused, never treated as anonymous.
      const forged = await fetch(`${server.url}/default/services/calc/caller`, {
        headers: { authorization: `Bearer ${userToken("not-the-secret", "root")}` },
      });
      assert.equal(forged.status, 401);
      await forged.body?.cancel();
      const missing = await fetch(`${server.url}/default/services/nope/x`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      // A status that carries no body (a preflight's 204) is answered whole, with no body: a
      // Deno Response given any body for it, even an empty one, throws.
      const preflight = await fetch(`${server.url}/default/services/calc/add`, {
        method: "OPTIONS",
        headers: { origin: "http://example.test", "access-control-request-method": "POST" },
      });
      assert.equal(preflight.status, 204);
      assert.equal(await preflight.text(), "");
    });

    it("streams a generator over HTTP as NDJSON", T, async () => {
      const provider = await connect();
      async function* countTo(n) {
        for (let i = 0; i < n; i++) yield { i };
      }
      await provider.registerService({
        id: "counter",
        config: { visibility: "public" },
        // A plain function: hypha-rpc maps the query's keyword arguments onto its parameter names.
        count: (n) => countTo(n),
      });
      const ws = provider.config.workspace;
      const res = await fetch(`${server.url}/${ws}/services/counter/count?n=5`, {
        headers: { accept: "application/x-ndjson" },
      });
      assert.equal(res.status, 200);
      const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(lines, [0, 1, 2, 3, 4].map((i) => ({ i })));
    });

    it("closes on SIGTERM: clients are disconnected and the process exits by itself", T, async () => {
      const client = await connect();
      const gone = new Promise((resolve) => client.rpc.on("disconnected", resolve));
      const ended = await server.stop();
      assert.equal(ended.forced, false, `did not exit by itself:\n${server.output()}`);
      assert.equal(ended.code, 0, server.output());
      assert.match(server.output(), /closed/);
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      await assert.rejects(fetch(`${server.url}/health`));
      server = null;
    });
  });
}
