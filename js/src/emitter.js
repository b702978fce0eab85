// The HyphaCore event bus: on / once / off / emit / waitFor, as hypha-core's MessageEmitter.

export class EventBus {
  constructor() {
    this._handlers = new Map();
  }

  on(event, handler) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push({ handler, once: false });
  }

  once(event, handler) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push({ handler, once: true });
  }

  /** `off()` removes every handler, `off(event)` those of one event, `off(event, h)` one. */
  off(event, handler) {
    if (event === undefined && handler === undefined) {
      this._handlers.clear();
    } else if (handler === undefined) {
      this._handlers.delete(event);
    } else {
      const list = this._handlers.get(event);
      if (!list) return;
      const i = list.findIndex((h) => h.handler === handler);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** Call the handlers of `event` with `data` (errors are logged, never thrown). */
  async emit(event, data) {
    this._fire(event, data);
  }

  _fire(event, data) {
    const list = this._handlers.get(event);
    if (!list || list.length === 0) return;
    for (const entry of [...list]) {
      if (entry.once) {
        const i = list.indexOf(entry);
        if (i >= 0) list.splice(i, 1);
      }
      try {
        const result = entry.handler(data);
        if (result && typeof result.catch === "function") {
          result.catch((e) => console.error(`hypha-core: ${event} handler failed:`, e));
        }
      } catch (e) {
        console.error(`hypha-core: ${event} handler failed:`, e);
      }
    }
  }

  /** Resolve with the next `event`'s data, or reject after `timeout` ms (if given). */
  waitFor(event, timeout) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const handler = (data) => {
        if (timer) clearTimeout(timer);
        resolve(data);
      };
      this.once(event, handler);
      if (timeout !== undefined && timeout !== null) {
        timer = setTimeout(() => {
          this.off(event, handler);
          reject(new Error(`Timeout waiting for event ${event} (${timeout} ms)`));
        }, timeout);
      }
    });
  }
}
