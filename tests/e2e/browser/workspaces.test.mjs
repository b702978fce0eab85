// (a) Cross-workspace calls with a token from the root API, and (e) forged tokens refused.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

describe("workspaces and tokens", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("a client in another workspace calls root's public service with its token, not its protected one", async () => {
    const page = await env.page();
    const r = await page.evaluate(async () => {
      const core = new HyphaCore();
      const api = await core.start();
      await api.registerService({
        id: "public-calc",
        name: "Public calculator",
        config: { visibility: "public", require_context: true },
        add: (a, b, ctx) => a + b,
        whoami: (ctx) => ({ ws: ctx.ws, from: ctx.from, user: ctx.user.id }),
      });
      await api.registerService({
        id: "private-calc",
        config: { visibility: "protected" },
        add: (a, b) => a + b,
      });
      const token = await api.generateToken({ workspace: "ws-b" });
      const client = await core.connect({ token });
      const out = { config: { workspace: client.config.workspace, client_id: client.config.client_id } };
      const calc = await client.getService("default/root:public-calc");
      out.sum = await calc.add(2, 3);
      out.whoami = await calc.whoami();
      try {
        const hidden = await client.getService("default/root:private-calc");
        out.privateSum = await hidden.add(1, 1);
      } catch (e) {
        out.privateError = String(e.message || e);
      }
      // The other way round: root reaches what the ws-b client registers, protected or not.
      await client.registerService({ id: "b-public", config: { visibility: "public" }, hello: (n) => `hello ${n} from ws-b` });
      await client.registerService({ id: "b-protected", hello: (n) => `protected hello ${n}` });
      const cid = client.config.client_id;
      out.rootToPublic = await (await api.getService(`ws-b/${cid}:b-public`)).hello("root");
      out.rootToProtected = await (await api.getService(`ws-b/${cid}:b-protected`)).hello("root");
      // A client of a third workspace sees ws-b's public service, not the protected one.
      const third = await core.connect({ token: await api.generateToken({ workspace: "ws-c" }) });
      out.thirdToPublic = await (await third.getService(`ws-b/${cid}:b-public`)).hello("ws-c");
      try {
        await third.getService(`ws-b/${cid}:b-protected`);
        out.thirdToProtected = "reached";
      } catch (e) {
        out.thirdToProtectedError = String(e.message || e);
      }
      // The token holds what root gave it and no more: ws-b only, no minting, no way into default.
      for (const [name, attempt] of [
        ["mintForDefault", () => client.generateToken({ workspace: "default" })],
        ["enterDefault", () => core.connect({ token, workspace: "default" })],
      ]) {
        try {
          await attempt();
          out[name] = "allowed";
        } catch (e) {
          out[name] = String(e.message || e);
        }
      }
      await core.close();
      return out;
    });
    assert.match(r.mintForDefault, /permission denied/);
    assert.match(r.enterDefault, /permission denied/);
    assert.equal(r.config.workspace, "ws-b");
    assert.equal(r.sum, 5);
    assert.deepEqual(r.whoami.ws, "ws-b");
    assert.equal(r.whoami.from, `ws-b/${r.config.client_id}`);
    assert.equal(r.privateSum, undefined, "a protected service of `default` must not be callable from ws-b");
    assert.match(r.privateError, /not found|permission|denied|forbidden/i);
    assert.equal(r.rootToPublic, "hello root from ws-b");
    assert.equal(r.rootToProtected, "protected hello root");
    assert.equal(r.thirdToPublic, "hello ws-c from ws-b");
    assert.equal(r.thirdToProtected, undefined);
    assert.match(r.thirdToProtectedError, /not found|permission|denied|forbidden/i);
  });

  env.test("connect() refuses tokens with a changed payload or a wrong signature", async () => {
    const page = await env.page();
    const r = await page.evaluate(async () => {
      const b64url = (text) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      const unb64url = (text) => atob(text.replace(/-/g, "+").replace(/_/g, "/"));
      const hmac = async (secret, data) => {
        const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
        const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)));
        return b64url(String.fromCharCode(...sig));
      };
      const core = new HyphaCore({ jwtSecret: "e2e-secret-of-the-page" });
      const api = await core.start();
      await api.registerService({ id: "vault", config: { visibility: "protected" }, open: () => "opened" });
      const good = await api.generateToken({ workspace: "ws-e" });
      const [header, payload, signature] = good.split(".");
      const claims = JSON.parse(unb64url(payload));
      const forgedClaims = { ...claims, workspace: "default", scope: "ws:default#a", roles: ["admin"], sub: "root" };

      // Another server's token (a different secret) for the same workspace.
      const other = new HyphaCore({ port: 8181, jwtSecret: "some-other-secret" });
      const otherApi = await other.start();
      const foreign = await otherApi.generateToken({ workspace: "ws-e" });
      await other.close();

      const flipped = signature.slice(0, -2) + (signature.slice(-2) === "AA" ? "BB" : "AA");
      const tokens = {
        changedPayload: `${header}.${b64url(JSON.stringify(forgedClaims))}.${signature}`,
        longerExpiry: `${header}.${b64url(JSON.stringify({ ...claims, exp: claims.exp + 86400 * 365 }))}.${signature}`,
        otherSecret: foreign,
        resignedWithGuess: `${header}.${b64url(JSON.stringify(forgedClaims))}.${await hmac("hypha-core-default-secret", `${header}.${b64url(JSON.stringify(forgedClaims))}`)}`,
        flippedSignature: `${header}.${payload}.${flipped}`,
        noSignature: `${header}.${payload}.`,
        algNone: `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify(forgedClaims))}.`,
        garbage: "not-a-jwt",
      };
      const before = Object.keys(core.connections).sort();
      const out = { refused: {}, accepted: [], verify: {} };
      for (const [name, token] of Object.entries(tokens)) {
        try {
          const client = await core.connect({ token });
          out.accepted.push({ name, workspace: client.config.workspace, user: client.config.user && client.config.user.id });
          await client.disconnect();
        } catch (e) {
          out.refused[name] = { message: String(e.message || e) };
        }
        try {
          core.verifyToken(token);
          out.verify[name] = "valid?!";
        } catch (e) {
          out.verify[name] = e.code || e.message;
        }
      }
      out.connectionsUnchanged = JSON.stringify(Object.keys(core.connections).sort()) === JSON.stringify(before);
      // The genuine token still works, and gets exactly what it says.
      const client = await core.connect({ token: good });
      out.good = { workspace: client.config.workspace };
      try {
        await client.getService("default/root:vault");
        out.good.vault = "reached";
      } catch (e) {
        out.good.vault = "refused";
      }
      await core.close();
      return out;
    });
    if (process.env.E2E_DEBUG) console.log(JSON.stringify(r, null, 1));
    assert.deepEqual(r.accepted, [], `forged tokens were accepted: ${JSON.stringify(r.accepted)}`);
    for (const name of ["changedPayload", "longerExpiry", "otherSecret", "resignedWithGuess", "flippedSignature", "noSignature", "algNone", "garbage"]) {
      assert.ok(r.refused[name], `${name} was not refused`);
      assert.match(r.refused[name].message, /token|auth|signature|jwt/i, `${name}: ${r.refused[name].message}`);
      assert.doesNotMatch(r.refused[name].message, /timeout|timed out/i, `${name} was refused by a timeout`);
      assert.equal(r.verify[name], "INVALID_TOKEN", `verifyToken(${name})`);
    }
    assert.ok(r.connectionsUnchanged, "a refused token left a connection behind");
    assert.equal(r.good.workspace, "ws-e");
    assert.equal(r.good.vault, "refused");
  });
});
