// (g) The demo page at `/`: it loads without console errors, its side panel follows services and
// clients as they come and go, and a user can open the example apps, call them, move and close
// their windows.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

const ready = () => document.body.dataset.ready === "true";
const service = (id) => `#tree [data-service-id="${id}"]`;
const client = (id) => `#tree [data-client-id="${id}"]`;
/** The window whose title is exactly `title`. */
const windowTitled = (page, title) =>
  page.locator(".panel", { has: page.locator(".title-text", { hasText: new RegExp(`^${title}$`) }) });

describe("demo page", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("loads with no console errors and its side panel follows services and clients", async () => {
    const page = await env.page("/", { waitFor: ready });
    assert.match(await page.textContent("#status"), /^running: https:\/\/local-hypha-server:8080$/);
    assert.equal(await page.textContent("#server-url"), "https://local-hypha-server:8080");
    await page.waitForSelector(client("default/root"));
    // Root's plumbing (the host service) is not listed as a page service.
    assert.equal(await page.locator(service("default/root:hypha-core-host")).count(), 0);

    // A service registered through the page's root API shows up, with its visibility...
    await page.evaluate(() =>
      window.api.registerService({ id: "e2e-visible", name: "E2E visible", config: { visibility: "public" }, ping: () => "pong" }),
    );
    const row = page.locator(service("default/root:e2e-visible"));
    await row.waitFor();
    assert.match(await row.textContent(), /e2e-visible\s*public\s*E2E visible/);
    assert.match(await page.textContent("#events"), /service_added default\/root:e2e-visible/);
    // ...and goes away when it is unregistered.
    await page.evaluate(() => window.api.unregisterService("e2e-visible"));
    await row.waitFor({ state: "detached" });

    // A client of another workspace appears under its workspace with its (protected) service,
    // and disappears with its services when it disconnects.
    const cid = await page.evaluate(async () => {
      const token = await window.api.generateToken({ workspace: "ws-side" });
      window.sideClient = await window.hyphaCore.connect({ token, client_id: "side-client" });
      await window.sideClient.registerService({ id: "side-svc", hi: () => 1 });
      return window.sideClient.config.client_id;
    });
    assert.equal(cid, "side-client");
    await page.waitForSelector(`#tree details[data-workspace="ws-side"] [data-client-id="ws-side/side-client"]`);
    const sideRow = page.locator(service("ws-side/side-client:side-svc"));
    await sideRow.waitFor();
    assert.match(await sideRow.textContent(), /side-svc\s*protected/);
    await page.evaluate(() => window.sideClient.disconnect());
    await sideRow.waitFor({ state: "detached" });
    await page.locator(client("ws-side/side-client")).waitFor({ state: "detached" });

    assert.deepEqual(page.errors, [], "console errors or uncaught exceptions on the demo page");
  });

  env.test("a user opens the example apps, calls them, moves and closes their windows", async () => {
    const page = await env.page("/", { waitFor: ready });

    // The compute worker, from the Examples menu, called through its window's console.
    await page.click("#examples-button");
    await page.click('[data-example="compute-worker"]');
    const workerWindow = page.locator('.panel[data-kind="worker"]');
    await workerWindow.locator(".console").waitFor();
    assert.equal(await workerWindow.locator(".title-text").textContent(), "Compute worker");
    await workerWindow.locator("select").selectOption("fibonacci");
    await workerWindow.locator("input").fill("[25]");
    await workerWindow.locator("button", { hasText: "Call" }).click();
    await workerWindow.locator(".result", { hasText: "fibonacci → 75025" }).waitFor();
    // A callback argument: progress reported back into the page.
    await workerWindow.locator("select").selectOption("heavyComputation");
    await workerWindow.locator("input").fill('[100000, "$callback"]');
    await workerWindow.locator("button", { hasText: "Call" }).click();
    await workerWindow.locator(".result", { hasText: "10 callbacks" }).waitFor();
    // An error thrown in the worker is shown to the user.
    await workerWindow.locator("select").selectOption("factorial");
    await workerWindow.locator("input").fill("[-3]");
    await workerWindow.locator("button", { hasText: "Call" }).click();
    await workerWindow.locator(".result.error", { hasText: "n must be a non-negative integer" }).waitFor();
    const workerClient = (await workerWindow.locator(".panel-status").textContent()).replace(/^client /, "");
    assert.match(workerClient, /^default\/worker-/);
    await page.waitForSelector(service(`${workerClient}:default`));

    // The standalone iframe app, from a URL typed by the user.
    await page.fill("#app-url", "./apps/standalone-iframe.html");
    await page.click("#load-button");
    const appWindow = windowTitled(page, "Standalone iframe app");
    await appWindow.locator(".console").waitFor();
    assert.equal(await appWindow.getAttribute("data-kind"), "window");
    const frame = appWindow.frameLocator("iframe");
    await frame.locator("#status.ready").waitFor();
    const appClient = (await frame.locator("#status").textContent()).replace(/^connected as /, "");
    assert.match(appClient, /^default\/client-/);
    await page.waitForSelector(service(`${appClient}:default`));
    await appWindow.locator("select").selectOption("setMessage");
    await appWindow.locator("input").fill('["hello from the e2e test"]');
    await appWindow.locator("button", { hasText: "Call" }).click();
    await frame.locator("#message", { hasText: "hello from the e2e test" }).waitFor();

    // Move the window by its title bar.
    const bar = appWindow.locator(".panel-title");
    const before = await appWindow.boundingBox();
    const grip = await bar.boundingBox();
    await page.mouse.move(grip.x + 40, grip.y + grip.height / 2);
    await page.mouse.down();
    await page.mouse.move(grip.x + 140, grip.y + grip.height / 2 + 60, { steps: 8 });
    await page.mouse.up();
    const moved = await appWindow.boundingBox();
    assert.ok(Math.abs(moved.x - before.x - 100) <= 2, `moved x by ${moved.x - before.x}`);
    assert.ok(Math.abs(moved.y - before.y - 60) <= 2, `moved y by ${moved.y - before.y}`);
    assert.equal(await page.evaluate(() => document.body.classList.contains("dragging")), false);

    // A window opened through the root API (add_window) gets a window of its own.
    await page.evaluate(() => window.api.createWindow({ src: "/apps/standalone-iframe.html", name: "opened by the API" }));
    const apiWindow = windowTitled(page, "opened by the API");
    await apiWindow.frameLocator("iframe").locator("#status.ready").waitFor();
    assert.equal(await page.locator(".panel").count(), 3);

    // Close the windows: they go away, and so do their clients in the side panel.
    await appWindow.locator("button.close").click();
    await appWindow.waitFor({ state: "detached" });
    await page.locator(client(appClient)).waitFor({ state: "detached" });
    await workerWindow.locator("button.close").click();
    await workerWindow.locator("button.close").waitFor({ state: "detached" });
    await page.locator(client(workerClient)).waitFor({ state: "detached" });
    await apiWindow.locator("button.close").click();
    await apiWindow.waitFor({ state: "detached" });
    assert.equal(await page.locator(".panel").count(), 0);
    // Only root is left in the side panel.
    await page.waitForFunction(() => document.querySelectorAll("#tree [data-client-id]").length === 1);
    assert.equal(await page.textContent("#count-clients"), "1");

    // The only console error is hypha-rpc in the worker logging the error factorial(-3) threw.
    const unexpected = page.errors.filter((line) => !/n must be a non-negative integer, got -3/.test(line));
    assert.deepEqual(unexpected, [], "console errors or uncaught exceptions on the demo page");
  });

  env.test("the Examples menu runs one app of each plugin type and a legacy ImJoy app", async () => {
    const page = await env.page("/", { waitFor: ready });
    const open = async (example) => {
      await page.click("#examples-button");
      await page.click(`[data-example="${example}"]`);
    };
    const call = async (panel, fn, args, expected) => {
      await panel.locator(".console").waitFor();
      await panel.locator("select").selectOption(fn);
      await panel.locator("input").fill(args);
      await panel.locator("button", { hasText: "Call" }).click();
      await panel.locator(".result", { hasText: expected }).waitFor();
    };

    await open("hello-worker");
    const worker = windowTitled(page, "Hello worker");
    assert.equal(await worker.getAttribute("data-kind"), "app");
    await call(worker, "hello", '["demo"]', "Hello, demo! (from a web-worker plugin)");

    await open("hello-window");
    const win = windowTitled(page, "Hello window");
    await win.frameLocator("iframe").locator("#title", { hasText: "Hello window" }).waitFor();
    await call(win, "getState", "[]", 'getState → ');
    assert.match(await win.locator(".result").textContent(), /"title": ?"Hello window"/);

    await open("background-iframe");
    const hidden = windowTitled(page, "Background iframe");
    await call(hidden, "double", "[21]", "42");

    await open("legacy-imjoy");
    const legacy = windowTitled(page, "Legacy ImJoy app");
    await legacy.frameLocator("iframe").locator("#status", { hasText: "connected (imjoy-rpc)" }).waitFor();
    await call(legacy, "add", "[2, 3]", "5");

    // Closing the panels stops the apps: only root is left.
    for (const panel of [worker, win, hidden, legacy]) {
      await panel.locator("button.close").click();
      await panel.waitFor({ state: "detached" });
    }
    await page.waitForFunction(() => document.querySelectorAll("#tree [data-client-id]").length === 1);
    assert.deepEqual(await page.evaluate(() => window.api.listApps()), []);
    assert.deepEqual(page.errors, [], "console errors or uncaught exceptions on the demo page");
  });

  env.test("the Examples menu's Python app shows its loading progress and answers from Python", async () => {
    const page = await env.page("/", { waitFor: ready });
    await page.click("#examples-button");
    await page.click('[data-example="hello-python"]');
    const python = windowTitled(page, "Hello Python");
    await python.locator(".console").waitFor({ timeout: 60_000 });
    await python.locator("select").selectOption("stats");
    await python.locator("input").fill("[[3, 1, 4, 1, 5, 9, 2, 6]]");
    await python.locator("button", { hasText: "Call" }).click();
    await python.locator(".result", { hasText: "3.875" }).waitFor();
    const stages = await page.locator('#events [data-event="app_progress"]').allTextContents();
    for (const stage of ["loading Python", "installing hypha-rpc", "running"]) {
      assert.ok(stages.some((line) => line.includes(`Hello Python: ${stage}`)), `no "${stage}" in ${JSON.stringify(stages)}`);
    }
    assert.deepEqual(page.errors, [], "console errors or uncaught exceptions on the demo page");
  });

  env.test("?app=URL loads an app at start", async () => {
    const page = await env.page("/?app=./apps/compute-worker.js", { waitFor: ready });
    await page.locator('.panel[data-kind="worker"] .console').waitFor();
    assert.equal(await page.locator(".panel").count(), 1);
    assert.deepEqual(page.errors, []);
  });
});
