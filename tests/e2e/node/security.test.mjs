// Handshake refusals observable from the npm `hypha-rpc` client. Each refusal
// has a positive control next to it, so a server that refuses everything fails too.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  EXTERNAL,
  claims,
  connect,
  randomSecret,
  rootToken,
  settle,
  signJwt,
  startServer,
  uid,
  userToken,
} from "./server.mjs";

const T = { timeout: 30000 };
const REFUSAL_MS = 12000;

/** The connect must fail quickly with the server's handshake error, not hang or time out. */
async function assertRefused(server, opts, what) {
  const started = Date.now();
  const r = await settle(connect(server, opts), REFUSAL_MS);
  if (r.ok) {
    const ws = r.value.config.workspace;
    await r.value.disconnect().catch(() => {});
    assert.fail(`${what}: connection was accepted (workspace ${ws})`);
  }
  const msg = String(r.error?.message ?? r.error);
  assert.match(msg, /ConnectionAbortedError/, `${what}: expected a handshake refusal, got: ${msg}`);
  assert.doesNotMatch(msg, /Failed to receive the first message/, `${what}: server never answered the handshake`);
  assert.ok(Date.now() - started < REFUSAL_MS, `${what}: refusal took ${Date.now() - started} ms`);
  return msg;
}

describe("connection security (node client)", { skip: EXTERNAL && "needs hypha-core-server" }, () => {
  let server;
  before(async () => {
    server = await startServer({ secret: randomSecret() });
  });
  after(async () => {
    await server?.stop();
  });

  it("anonymous client gets its own ws-user-anonymouz-… workspace and may join public", T, async (t) => {
    const anon = await connect(server, {}, t);
    assert.match(anon.config.user?.id ?? "", /^anonymouz-/, `user: ${JSON.stringify(anon.config.user)}`);
    assert.equal(anon.config.workspace, `ws-user-${anon.config.user.id}`);
    const pub = await connect(server, { workspace: "public" }, t);
    assert.equal(pub.config.workspace, "public");
  });

  it("refuses an anonymous client asking for the default workspace", T, async () => {
    await assertRefused(server, { workspace: "default" }, "anonymous → default");
  });

  it("refuses an anonymous client asking for someone else's workspace", T, async (t) => {
    const owner = await connect(server, {}, t);
    await assertRefused(server, { workspace: owner.config.workspace }, "anonymous → other user's workspace");
  });

  it("accepts a valid root token into default (control)", T, async (t) => {
    const root = await connect(server, { token: rootToken(server.secret), workspace: "default" }, t);
    assert.equal(root.config.workspace, "default");
  });

  it("refuses a token whose signature was tampered with", T, async () => {
    const good = rootToken(server.secret);
    const [h, , s] = good.split(".");
    const forgedPayload = Buffer.from(JSON.stringify(claims({ sub: "mallory", roles: ["admin"] }))).toString(
      "base64url",
    );
    await assertRefused(server, { token: `${h}.${forgedPayload}.${s}`, workspace: "default" }, "forged payload");
    const flipped = s.slice(0, -2) + (s.slice(-2) === "AA" ? "BB" : "AA");
    await assertRefused(server, { token: `${good.split(".").slice(0, 2).join(".")}.${flipped}` }, "bad signature");
  });

  it("refuses a token signed with another secret", T, async () => {
    await assertRefused(server, { token: rootToken(randomSecret()), workspace: "default" }, "foreign secret");
  });

  it("refuses an alg:none token", T, async () => {
    const token = signJwt(claims({ sub: "root", roles: ["admin"] }), "", { alg: "none", typ: "JWT" });
    await assertRefused(server, { token, workspace: "default" }, "alg none");
    await assertRefused(server, { token }, "alg none (no workspace)");
  });

  it("refuses an expired token", T, async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt(claims({ sub: "root", roles: ["admin"], iat: now - 7200, exp: now - 3600 }), server.secret);
    await assertRefused(server, { token, workspace: "default" }, "expired token");
  });

  it("refuses a second live connection with the same client id in the same workspace", T, async (t) => {
    const token = userToken(server.secret, uid("dup"));
    const clientId = uid("same");
    const first = await connect(server, { token, client_id: clientId }, t);
    const info = await first.registerService({ id: "still-here", ping: () => "pong" });
    await assertRefused(server, { token, client_id: clientId, workspace: first.config.workspace }, "duplicate client id");
    // The original connection is unharmed and still owns its service.
    const other = await connect(server, { token, client_id: uid("other") }, t);
    const svc = await other.getService(info.id);
    assert.equal(await svc.ping(), "pong");
  });
});
