// (c) The demo's standalone iframe app, opened with the root API's createWindow (the page answers
// add_window with a container) and mounted with hyphaCore.mountIframe; its functions are called from
// the page and their effect is visible inside the iframe.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

const APP = "/apps/standalone-iframe.html";

describe("iframe apps", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("api.createWindow({src: url}) opens the app in the container the page made for add_window", async () => {
    const page = await env.page();
    const r = await page.evaluate(async (app) => {
      const core = new HyphaCore();
      const windows = [];
      core.on("add_window", (config) => {
        windows.push({ window_id: config.window_id, src: config.src, name: config.name, workspace: config.workspace });
        const box = document.createElement("div");
        box.id = config.window_id;
        box.className = "window-box";
        document.getElementById("panes").append(box);
      });
      const api = await core.start();
      window.core = core;
      window.api = api;
      const url = new URL(app, location.href).href;
      const svc = await api.createWindow({ src: url, name: "standalone" });
      window.standalone = svc;
      const box = document.getElementById(windows[0].window_id);
      const iframe = box.querySelector("iframe");
      const out = {
        windows,
        url,
        iframeInBox: !!iframe,
        iframeSrc: iframe && iframe.src,
        serviceId: svc.id,
        name: svc.name,
        greet: await svc.greet("page"),
        sum: await svc.add(19, 23),
        message: await svc.setMessage("set by the page"),
        info: await svc.getInfo(),
      };
      try {
        await svc.fail("iframe failure 9");
      } catch (e) {
        out.failure = String(e.message || e);
      }
      const win = await api.getWindow("standalone");
      out.getWindow = win && { name: win.name, hasService: !!win.service };
      return out;
    }, APP);
    assert.equal(r.windows.length, 1, "exactly one add_window event");
    assert.match(r.windows[0].window_id, /\S/);
    assert.equal(r.windows[0].src, r.url);
    assert.equal(r.windows[0].workspace, "default");
    assert.equal(r.iframeInBox, true);
    assert.equal(r.iframeSrc, r.url);
    assert.equal(r.name, "Standalone iframe app");
    assert.match(r.serviceId, /^default\/client-[^:]+:default$/);
    assert.equal(r.info.workspace, "default");
    assert.equal(r.info.inIframe, true);
    assert.equal(r.info.user, r.info.client_id, "an app root opens gets its own identity, not root's");
    assert.equal(r.greet, `Hello, page! (from ${r.info.client_id})`);
    assert.equal(r.sum, 42);
    assert.equal(r.message, "set by the page");
    assert.match(r.failure, /iframe failure 9/);
    assert.deepEqual(r.getWindow, { name: "standalone", hasService: true });

    // What a user sees inside the window: the app says it is connected and shows the message.
    const frame = page.frameLocator(`[id="${r.windows[0].window_id}"] iframe`);
    await frame.locator("#status.ready").waitFor();
    assert.match(await frame.locator("#status").textContent(), new RegExp(`connected as default/${r.info.client_id}`));
    assert.equal(await frame.locator("#message").textContent(), "set by the page");
    assert.match(await frame.locator("#calls").textContent(), /^[5-9] calls from other clients/);
    // The app's own button: a round trip through the server.
    await frame.locator("#echo-input").fill("typed in the app");
    await frame.locator("#echo-button").click();
    await frame.locator("#message", { hasText: "echo: typed in the app" }).waitFor();
  });

  env.test("hyphaCore.mountIframe(iframe, {workspace, client_id}) connects an iframe the page created", async () => {
    const page = await env.page();
    const r = await page.evaluate(async (app) => {
      const core = new HyphaCore();
      const api = await core.start();
      const iframe = document.createElement("iframe");
      iframe.id = "mounted-frame";
      iframe.src = app;
      document.getElementById("panes").append(iframe);
      const mounted = await core.mountIframe(iframe, { workspace: "ws-frames", client_id: "frame-app", timeout: 20000 });
      const svc = mounted.service;
      const out = {
        workspace: mounted.workspace,
        client_id: mounted.client_id,
        connectionSource: core.connections["ws-frames/frame-app"].source === iframe.contentWindow,
        serviceId: svc.id,
        info: await svc.getInfo(),
        greet: await svc.greet("mounter"),
        message: await svc.setMessage("mounted and called"),
      };
      // Root reaches it through the server by its address, and so does a client of ws-frames.
      out.viaRoot = await (await api.getService("ws-frames/frame-app:default")).add(1, 2);
      const member = await core.connect({ token: await api.generateToken({ workspace: "ws-frames" }) });
      out.viaMember = await (await member.getService("ws-frames/frame-app:default")).greet("member");
      const outsider = await core.connect({ token: await api.generateToken({ workspace: "ws-outside" }) });
      try {
        await outsider.getService("ws-frames/frame-app:default");
        out.viaOutsider = "reached";
      } catch (e) {
        out.viaOutsider = "refused";
      }
      window.core = core;
      return out;
    }, APP);
    assert.equal(r.workspace, "ws-frames");
    assert.equal(r.client_id, "frame-app");
    assert.equal(r.connectionSource, true);
    assert.equal(r.serviceId, "ws-frames/frame-app:default");
    assert.equal(r.info.workspace, "ws-frames");
    assert.equal(r.info.client_id, "frame-app");
    assert.equal(r.greet, "Hello, mounter! (from frame-app)");
    assert.equal(r.message, "mounted and called");
    assert.equal(r.viaRoot, 3);
    assert.equal(r.viaMember, "Hello, member! (from frame-app)");
    assert.equal(r.viaOutsider, "refused", "a protected app service is not reachable from another workspace");
    const frame = page.frameLocator("#mounted-frame");
    await frame.locator("#status.ready").waitFor();
    assert.equal(await frame.locator("#status").textContent(), "connected as ws-frames/frame-app");
    assert.equal(await frame.locator("#message").textContent(), "mounted and called");
  });
});
