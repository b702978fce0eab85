// Reconnection with the real npm client: the server restarts (same secret, same port); the
// client reconnects with its reconnection token, keeps its id and workspace, and re-registers
// its services, which others can use again.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { connect, EXTERNAL, randomSecret, startServer, uid, waitUntil } from "./server.mjs";

describe("reconnection (node client)", { skip: EXTERNAL && "needs to restart hypha-core-server" }, () => {
  const servers = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it("keeps its id and gets its services back after a server restart", { timeout: 60000 }, async (t) => {
    const secret = randomSecret();
    const first = await startServer({ secret });
    servers.push(first);
    const provider = await connect(first, { client_id: uid("keep") }, t);
    const { workspace, client_id: clientId } = provider.config;
    await provider.registerService({ id: "kept", config: { visibility: "public" }, twice: (x) => 2 * x });

    await first.stop();
    const second = await startServer({ secret, port: first.port });
    servers.push(second);

    // The client retries with backoff (1 s, 2 s, ...); its services come back once it is in.
    const consumer = await connect(second, { client_id: uid("cons") }, t);
    const svc = await waitUntil(async () => {
      try {
        return await consumer.getService(`${workspace}/${clientId}:kept`);
      } catch {
        return null;
      }
    }, 30000, 500);
    assert.ok(svc, "the provider's service did not come back after the restart");
    assert.equal(await svc.twice(21), 42);
    assert.equal(provider.config.workspace, workspace);
    assert.equal(provider.config.client_id, clientId);
  });
});
