// js/src/timers.js, the timers hypha-rpc's rpc.js gets in the bundle: the runtime's contract
// (never early, in deadline order, clearable, intervals repeat) on one real timer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

// Count the real timers the module arms: it captures the runtime's setTimeout when imported.
let realArms = 0;
const runtimeSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = (...args) => {
  realArms += 1;
  return runtimeSetTimeout(...args);
};
const timers = await import("../src/timers.js");
globalThis.setTimeout = runtimeSetTimeout;

const sleep = (ms) => new Promise((resolve) => runtimeSetTimeout(resolve, ms));

describe("coalesced timers", () => {
  it("run no earlier than their delay, in deadline order across delays", async () => {
    const start = performance.now();
    const ran = [];
    for (const [name, ms] of [["c", 30], ["a", 10], ["b", 20], ["a2", 10], ["zero", 0]]) {
      timers.setTimeout((label) => ran.push([label, performance.now() - start, ms]), ms, name);
    }
    await sleep(80);
    assert.deepEqual(
      ran.map(([label]) => label),
      ["zero", "a", "a2", "b", "c"],
    );
    for (const [label, at, ms] of ran) assert.ok(at >= ms - 1, `${label} ran at ${at} ms, before its ${ms} ms`);
  });

  it("never run once cleared, even by a callback due in the same round", async () => {
    const ran = [];
    const cleared = timers.setTimeout(() => ran.push("cleared"), 5);
    timers.clearTimeout(cleared);
    let later;
    timers.setTimeout(() => {
      ran.push("first");
      timers.clearTimeout(later);
    }, 10);
    later = timers.setTimeout(() => ran.push("later"), 10);
    timers.clearTimeout(undefined);
    timers.clearTimeout(null);
    await sleep(40);
    assert.deepEqual(ran, ["first"]);
  });

  it("repeat an interval until its own callback clears it", async () => {
    let count = 0;
    const interval = timers.setInterval(() => {
      count += 1;
      if (count === 3) timers.clearInterval(interval);
    }, 5);
    await sleep(80);
    assert.equal(count, 3);
  });

  it("arm one real timer for many calls' timeouts made and cleared at once", async () => {
    // A sentinel armed first, so every later timer of a longer delay falls after it.
    const sentinel = timers.setTimeout(() => {}, 60_000);
    const before = realArms;
    for (let i = 0; i < 10_000; i++) {
      const reply = timers.setTimeout(() => assert.fail("a cleared timeout ran"), 60_000 + i);
      const heartbeat = timers.setInterval(() => assert.fail("a cleared interval ran"), 30_000);
      timers.clearInterval(heartbeat);
      timers.clearTimeout(reply);
    }
    // The 30 s heartbeats came before the armed 60 s sentinel once: one re-arm, not 20,000.
    assert.ok(realArms - before <= 1, `${realArms - before} real timers armed`);
    timers.clearTimeout(sentinel);
  });

  it("do not spin on a delay past the runtime's 32-bit limit", async () => {
    const before = realArms;
    const far = timers.setTimeout(() => assert.fail("ran 2^40 ms early"), 2 ** 40);
    await sleep(50);
    assert.ok(realArms - before <= 1, `${realArms - before} real timers armed in 50 ms`);
    timers.clearTimeout(far);
  });

  it("leave no real timer behind once every timer is cleared, so an idle process can exit", async () => {
    const realTimers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const idle = realTimers();
    const reply = timers.setTimeout(() => assert.fail("a cleared timeout ran"), 60_000);
    const heartbeat = timers.setInterval(() => assert.fail("a cleared interval ran"), 30_000);
    assert.equal(realTimers(), idle + 1, "one real timer while two are pending");
    timers.clearTimeout(reply);
    assert.equal(realTimers(), idle + 1, "still armed while the interval is pending");
    timers.clearInterval(heartbeat);
    assert.equal(realTimers(), idle, "the real timer outlived the last pending one");
    // Clearing again, or a timer that already ran, changes nothing.
    timers.clearTimeout(reply);
    let ran = 0;
    timers.setTimeout(() => ran++, 1);
    await sleep(20);
    assert.equal(ran, 1);
    assert.equal(realTimers(), idle);
    const next = timers.setTimeout(() => ran++, 1);
    assert.equal(realTimers(), idle + 1, "armed again for a new timer");
    await sleep(20);
    assert.equal(ran, 2);
    assert.equal(realTimers(), idle);
    timers.clearTimeout(next);
  });

  it("report a throwing callback as uncaught and still run the others", async () => {
    const reported = [];
    const runtimeQueueMicrotask = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (task) => {
      try {
        task();
      } catch (error) {
        reported.push(error.message);
      }
    };
    const ran = [];
    try {
      timers.setTimeout(() => {
        throw new Error("boom");
      }, 5);
      timers.setTimeout(() => ran.push("after"), 5);
      await sleep(30);
    } finally {
      globalThis.queueMicrotask = runtimeQueueMicrotask;
    }
    assert.deepEqual(reported, ["boom"]);
    assert.deepEqual(ran, ["after"]);
  });
});
