// setTimeout / setInterval for hypha-rpc's rpc.js (the build imports these there, shadowing the
// globals): one real timer for all of them.
//
// hypha-rpc arms a timer for every call it makes (the reply timeout) and an interval for every
// call it answers (the heartbeat), and clears both when the answer arrives, microseconds later.
// Through the runtime's timers that was ~8 µs of each in-tab call. Here a timer is one entry in
// an insertion-ordered Set per delay: every timer of one delay is due in the order it was made,
// so the first entry of each Set is its earliest, making and clearing a timer is one Set
// operation, and the one real timer is re-armed only when a new deadline comes before the armed
// one (a new, shorter delay), or after it fires. It is cleared when the last pending timer is:
// Node and Deno keep a process alive while a real timer is pending, and a server's close()
// must let its process exit.
//
// Same contract as the runtime's: a callback runs no earlier than its delay, in a task of its
// own turn of the event loop, after every callback due before it; an exception in one is
// reported as uncaught and does not stop the others.

const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const clock = globalThis.performance && globalThis.performance.now ? () => globalThis.performance.now() : () => Date.now();
/** Past this a runtime's setTimeout fires at once (a signed 32-bit delay): arm at most this far. */
const MAX_REAL_DELAY = 0x7fffffff;

/** delay (ms) → Set of pending entries, oldest (earliest due) first */
const queues = new Map();
/** Timers pending, all queues together: at 0 the real timer is cleared, so that an idle Node or
 * Deno process can exit without waiting for a deadline nobody waits for any more. */
let pending = 0;
let armed = null;
let armedAt = Infinity;

function schedule(callback, delay, args, repeat) {
  if (typeof callback !== "function") throw new TypeError("timer callback must be a function");
  const ms = delay > 0 ? Number(delay) : 0;
  let queue = queues.get(ms);
  if (!queue) queues.set(ms, (queue = new Set()));
  const timer = { at: clock() + ms, ms, callback, args, repeat, queue };
  queue.add(timer);
  pending++;
  if (timer.at < armedAt) arm(timer.at);
  return timer;
}

function cancel(timer) {
  if (!timer || !timer.queue || !timer.queue.delete(timer)) return;
  if (--pending === 0 && armed !== null) {
    realClearTimeout(armed);
    armed = null;
    armedAt = Infinity;
  }
}

function arm(at) {
  if (armed !== null) realClearTimeout(armed);
  armedAt = at;
  armed = realSetTimeout(fire, Math.min(MAX_REAL_DELAY, Math.max(0, at - clock())));
}

function fire() {
  armed = null;
  armedAt = Infinity;
  const now = clock();
  const due = [];
  for (const queue of queues.values()) {
    for (const timer of queue) {
      if (timer.at > now) break;
      due.push(timer);
    }
  }
  due.sort((a, b) => a.at - b.at);
  for (const timer of due) {
    // Not queued any more: cleared by a callback that ran before it in this round.
    if (!timer.queue.delete(timer)) continue;
    pending--;
    // An interval goes back in line before its callback runs, so the callback can clear it.
    if (timer.repeat) {
      pending++;
      timer.at = clock() + timer.ms;
      timer.queue.add(timer);
    }
    try {
      timer.callback(...timer.args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
  let next = Infinity;
  for (const [ms, queue] of queues) {
    const first = queue.values().next().value;
    if (!first) queues.delete(ms);
    else if (first.at < next) next = first.at;
  }
  if (next < armedAt) arm(next);
}

export function setTimeout(callback, delay, ...args) {
  return schedule(callback, delay, args, false);
}

export function setInterval(callback, delay, ...args) {
  return schedule(callback, delay, args, true);
}

export const clearTimeout = cancel;
export const clearInterval = cancel;
