#!/usr/bin/env node
// Which thread bounds a throughput row: runs it (32 calls in flight) under a Chromium trace and
// prints, for the page's main thread and the worker's, the share of the traced window spent in
// tasks and the task time per call. A thread near 100 % busy is the bound; the other waits.
//
//   node bench/browser/threads.mjs [--impl ours|reference] [--dist DIR] [--which worker|inTab]
//                                  [--calls N]
//
// Tracing costs time of its own, so calls/s here are lower than bench/browser.sh's; compare the
// threads with each other, not with the table.
import { join } from "node:path";
import { REPO, benchSession, parseOptions } from "./lib.mjs";

function parseArgs(argv) {
  const o = parseOptions(argv, { impl: "ours", dist: join(REPO, "dist"), which: "worker", calls: 20000 }, "threads.mjs");
  if (!["worker", "inTab"].includes(o.which)) throw new Error(`--which must be worker or inTab, not ${o.which}`);
  return o;
}

/** Top-level task time per renderer thread (main, dedicated workers) over the tasks' span. */
export function threadBusy(events) {
  const names = new Map();
  for (const e of events) if (e.ph === "M" && e.name === "thread_name") names.set(`${e.pid}:${e.tid}`, e.args.name);
  const threads = new Map();
  let first = Infinity;
  let last = 0;
  for (const e of events) {
    // Each task the scheduler runs is one complete ("X") RunTask event on its thread.
    if (e.ph !== "X" || !e.name.endsWith("RunTask")) continue;
    const key = `${e.pid}:${e.tid}`;
    const name = names.get(key) || key;
    if (!/CrRendererMain|DedicatedWorker/.test(name)) continue;
    const t = threads.get(key) || { name, taskUs: 0, tasks: 0 };
    t.taskUs += e.dur || 0;
    t.tasks++;
    threads.set(key, t);
    first = Math.min(first, e.ts);
    last = Math.max(last, e.ts + (e.dur || 0));
  }
  return { windowUs: last - first, threads: [...threads.values()] };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const session = await benchSession(o);
  const { browser, page, ev } = session;
  try {
    await ev("start", session.moduleUrl);
    await ev("setupInTab");
    if (o.which === "worker") await ev("setupWorker", session.workerUrl);
    const row = () => ev("throughput", o.which, "small", o.calls, 60_000);
    await row(); // warm: JIT, caches
    await browser.startTracing(page, { categories: ["toplevel"] });
    const measured = await row();
    const trace = JSON.parse((await browser.stopTracing()).toString());
    const { windowUs, threads } = threadBusy(trace.traceEvents || trace);
    console.log(
      `${o.impl}, ${o.which} echo, 32 in flight, traced: ${Math.round(measured.callsPerS)} calls/s ` +
        `(${measured.done} calls in ${(windowUs / 1000).toFixed(0)} ms of tasks)`,
    );
    for (const t of threads) {
      const busy = ((100 * t.taskUs) / windowUs).toFixed(1);
      const perCall = (t.taskUs / measured.done).toFixed(1);
      console.log(`  ${t.name.padEnd(24)} busy ${busy.padStart(5)} %  ${perCall.padStart(6)} µs/call  ${t.tasks} tasks`);
    }
  } finally {
    await session.close();
  }
}

await main();
