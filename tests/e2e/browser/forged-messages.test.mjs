// (d) An iframe that posts setupLocalClient bridge messages naming another mounted client
// (`from: <victim>`): `connect`, `message` (a hello, garbage, and real RPC frames it recorded from
// its own connection) and `close`. Whether the rogue frame is mounted as a client of its own or not
// mounted at all, nothing reaches the victim's connection: the victim keeps working, receives no
// bridge traffic it did not cause, and a service that records its callers never hears from it.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

describe("forged postMessages from another frame", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("a frame pretending to be a mounted client changes nothing for that client", async () => {
    const page = await env.page();
    // The victim, the audit service and a mounted rogue (a client of its own, in the same workspace).
    const setup = await page.evaluate(async () => {
      const core = new HyphaCore();
      const api = await core.start();
      window.core = core;
      window.audit = [];
      window.events = [];
      for (const type of ["client_connected", "client_disconnected"]) {
        core.on(type, (info) => window.events.push({ type, id: info.id }));
      }
      await api.registerService({
        id: "audit",
        config: { visibility: "public", require_context: true },
        record: (tag, ctx) => {
          window.audit.push({ tag, from: ctx.from });
          return window.audit.length;
        },
      });
      const frame = (id, src) => {
        const iframe = document.createElement("iframe");
        iframe.id = id;
        iframe.src = src;
        document.getElementById("panes").append(iframe);
        return iframe;
      };
      const victimFrame = frame("victim", "/fixtures/victim.html");
      const victim = await core.mountIframe(victimFrame, { workspace: "shared", client_id: "victim-1", timeout: 20000 });
      window.victimService = victim.service;
      await core.mountIframe(frame("rogue", "/fixtures/rogue.html"), {
        workspace: "shared",
        client_id: "rogue-1",
        passive: true,
        timeout: 20000,
      });
      const unmounted = frame("unmounted", "/fixtures/rogue.html");
      await new Promise((resolve) => unmounted.addEventListener("load", resolve, { once: true }));
      return {
        victimConn: core.connections["shared/victim-1"].conn,
        ping: await victim.service.ping("before"),
        connections: core.server.connectionCount(),
        events: window.events.length,
      };
    });
    assert.equal(setup.ping, "pong before from shared/victim-1");

    const victimFrame = page.frame({ url: /victim\.html$/ });
    assert.ok(victimFrame, "the victim frame is there");
    const rogueFrames = page.frames().filter((f) => f.url().endsWith("/fixtures/rogue.html"));
    assert.equal(rogueFrames.length, 2);
    const mountedRogue = (await rogueFrames[0].evaluate(() => window.isMounted())) ? rogueFrames[0] : rogueFrames[1];
    const unmountedRogue = mountedRogue === rogueFrames[0] ? rogueFrames[1] : rogueFrames[0];
    assert.equal(await mountedRogue.evaluate(() => window.isMounted()), true);
    assert.equal(await unmountedRogue.evaluate(() => window.isMounted()), false);

    const victimLogBefore = await victimFrame.evaluate(() => window.bridgeLog.length);
    const victim = { workspace: "shared", clientId: "victim-1" };

    // 1. Hand-written bridge messages naming the victim, from both rogue frames.
    await unmountedRogue.evaluate((v) => window.postForgedBridgeMessages(v), victim);
    await mountedRogue.evaluate((v) => window.postForgedBridgeMessages(v), victim);
    // 2. Real RPC frames (a call of audit.record) recorded by the mounted rogue on its own
    //    connection, replayed naming the victim and then (the control) naming itself.
    const replay = await mountedRogue.evaluate(
      (v) => window.replayAsVictim({ ...v, auditId: "default/root:audit", tag: "rogue-call" }),
      victim,
    );
    assert.ok(replay.frames >= 1, "the rogue recorded its call");
    assert.deepEqual(replay.me, { workspace: "shared", clientId: "rogue-1" });

    // The control replay lands (audit sees rogue-1 twice). The forged replay was posted before it
    // on the same channel, so by then it would have landed too.
    await page.waitForFunction(() => window.audit.filter((a) => a.tag === "rogue-call").length >= 2);
    const after = await page.evaluate(async (setupEvents) => ({
      audit: window.audit,
      events: window.events.slice(setupEvents),
      victimConn: window.core.connections["shared/victim-1"].conn,
      ping: await window.victimService.ping("after"),
      viaServer: await (await window.core.api.getService("shared/victim-1:default")).ping("server"),
    }), setup.events);
    assert.deepEqual(
      after.audit.map((a) => a.from),
      ["shared/rogue-1", "shared/rogue-1"],
      "only the rogue's own calls reached the audit service",
    );
    assert.equal(after.victimConn, setup.victimConn, "the victim kept its connection");
    assert.deepEqual(
      after.events.filter((e) => e.id === "shared/victim-1"),
      [],
      "the victim was neither disconnected nor reconnected",
    );
    assert.equal(after.ping, "pong after from shared/victim-1");
    assert.equal(after.viaServer, "pong server from shared/victim-1");

    // The victim frame got nothing but the replies to our two pings: no connected/closed, no
    // message addressed to anyone else.
    const victimLog = (await victimFrame.evaluate(() => window.bridgeLog)).slice(victimLogBefore);
    assert.ok(victimLog.length > 0, "the victim received the ping traffic");
    for (const entry of victimLog) {
      assert.deepEqual(entry, { type: "message", to: "victim-1", fromParent: true }, JSON.stringify(entry));
    }
    // Nothing was opened for the unmounted frame, and the mounted rogue only ever got its own traffic.
    const unmountedGot = await unmountedRogue.evaluate(() => window.rogueReceived);
    assert.deepEqual(unmountedGot, []);
    const rogueGot = await mountedRogue.evaluate(() => window.rogueReceived);
    assert.ok(rogueGot.every((m) => m.to === "rogue-1"), JSON.stringify(rogueGot));
    const connections = await page.evaluate(() => window.core.server.connectionCount());
    assert.equal(connections, setup.connections + 1, "one new connection: the rogue's own");
  });
});
