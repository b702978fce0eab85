// (g) The README's preload links: a page that preloads the module and the in-tab wasm from its
// <head> starts the server on the preloaded wasm, fetched once, not again by start().
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { browserSuite } from "./harness.mjs";

describe("preloading the module and the wasm", () => {
  const env = browserSuite({ before, after, afterEach, it });

  env.test("start() uses the preloaded wasm: one request for it, made by the <link>", async () => {
    const page = await env.page("/fixtures/preload.html", { waitFor: () => window.preloadDone === true });
    const result = await page.evaluate(() => window.preloadResult);
    assert.equal(result.error, undefined, result.error);
    assert.equal(result.answer, "hi tab");
    assert.deepEqual(result.wasmRequests, ["link"]);
    assert.deepEqual(page.errors, []);
  });
});
