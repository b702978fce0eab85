// HTTP calls to root's own service functions, run in this process (the Router's `onHttp(2,
// bytes)` outputs, decoded by http-exchanges.js; src/router/http/local.rs). Over the wire each
// such call cost a frame into root's hypha-rpc client, its answer back, and a
// `client_disconnected` notice when the request ended; here the function is called directly, as
// root's hypha-rpc would call it:
//
// - the function is the one hypha-rpc would find (`rpc._object_store` at the method's path), with
//   hypha-rpc's own annotations (visibility, `require_context`) and hypha-rpc's own parameter
//   names for keyword arguments;
// - the context is what hypha-rpc builds from the frame's stamped fields (the Router's
//   `context`), plus the client's `default_context`;
// - an answer that is plain data is encoded as is; anything else (a generator, a function, a typed
//   array...) goes through hypha-rpc's own encoder, in a session of root's client that belongs to
//   the caller, as over the wire;
// - an error is encoded as hypha-rpc encodes one.
//
// Whatever this path does not cover exactly (a function missing, generator functions, trusted
// keys, a protected service from another workspace, codecs) is declined before the function
// runs, and goes over the wire after all. The Router has made every check it makes for a frame.

import { Encoder } from "@msgpack/msgpack";

const encoder = new Encoder();
const encode = (value) => encoder.encodeSharedRef(value);

const GENERATOR_FUNCTIONS = new Set(["GeneratorFunction", "AsyncGeneratorFunction"]);
/** Deeper answers are left to hypha-rpc's encoder. */
const MAX_PLAIN_DEPTH = 32;

/** True if hypha-rpc's encoder would send `value` unchanged. */
function isPlain(value, depth = 0) {
  if (value === null || value === undefined) return true;
  const type = typeof value;
  if (type === "number" || type === "string" || type === "boolean") return true;
  if (type !== "object" || depth > MAX_PLAIN_DEPTH) return false;
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!isPlain(item, depth + 1)) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  if (value._rtype !== undefined || value._rintf !== undefined || value.__rpc_object__ !== undefined) return false;
  for (const key of Object.keys(value)) if (!isPlain(value[key], depth + 1)) return false;
  return true;
}

/** The function at hypha-rpc's dotted `path` in `store`, or undefined. */
function lookup(store, path) {
  let node = store;
  for (const part of path.split(".")) {
    if (node === null || node === undefined || !Object.prototype.hasOwnProperty.call(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/** hypha-rpc's encoding of a thrown value (`{_rtype: "error", _rvalue, _rtrace}` for an Error). */
function errorValue(error) {
  if (error instanceof Error) return { _rtype: "error", _rvalue: error.toString(), _rtrace: error.stack };
  return isPlain(error) ? error : String(error);
}

export class RootCalls {
  /**
   * @param hub the HyphaCore serving (its root client's hypha-rpc and hypha-rpc's parameter names)
   * @param exchanges the HttpExchanges whose server asked (none once it shut down)
   */
  constructor(hub, exchanges) {
    this.hub = hub;
    this.exchanges = exchanges;
    /** function → its parameter names (hypha-rpc parses the source on every call). */
    this.parameterNames = new WeakMap();
  }

  /** Run (or decline) `call` `{id, method, context, args, withKwargs}`, outside the Router's delivery. */
  take(call) {
    // Whatever fails answers the call (a local call has no deadline: unanswered, it would wait
    // for good); an answer after one already went is ignored by the Router.
    queueMicrotask(() => this._run(call).catch((error) => this._answer(call.id, "reject", errorValue(error))));
  }

  _answer(id, outcome, value, keptSession = false) {
    const server = this.exchanges.server;
    if (!server) return; // closing: the request was aborted
    let bytes;
    try {
      bytes = outcome === "decline" ? undefined : encode(value);
    } catch (e) {
      [outcome, bytes] = ["reject", encode(errorValue(e))];
    }
    server.httpLocal(id, outcome, bytes, keptSession);
  }

  async _run(call) {
    const { id, method, context } = call;
    const support = this.hub._rootCallSupport && this.hub._rootCallSupport();
    const rpc = support && support.rpc;
    const fn = rpc ? lookup(rpc._object_store, method) : undefined;
    const annotation = typeof fn === "function" ? rpc._method_annotations.get(fn) : undefined;
    if (!annotation || !this._mayRunHere(rpc, fn, annotation, context)) {
      this._answer(id, "decline");
      return;
    }
    let args = call.args;
    // As hypha-rpc: keyword arguments by the function's parameter names, `context` aside.
    if (call.withKwargs && args.length > 0) {
      const kwargs = args.pop();
      if (typeof kwargs === "object" && kwargs !== null) {
        args = this._parameters(fn, support.paramNames).map((name) => kwargs[name]);
      } else {
        args.push(kwargs);
      }
    }
    if (annotation.require_context) {
      for (let i = args.length; i < fn.length - 1; i++) args.push(undefined);
      args.push(Object.assign({}, context, rpc.default_context));
    }
    let result;
    try {
      result = fn.apply(null, args);
      if (result instanceof Promise) result = await result;
    } catch (error) {
      this._answer(id, "reject", errorValue(error));
      return;
    }
    if (isPlain(result)) {
      this._answer(id, "resolve", result);
      return;
    }
    // What only hypha-rpc can encode lives in a session of root's client that the caller owns,
    // as over the wire: the caller pulls a generator from it, and root forgets it when the
    // caller (the HTTP request) leaves.
    try {
      const session = context.session;
      const store = rpc._get_session_store(session, true);
      store.target_id = context.from;
      (rpc._targetIdIndex[context.from] ||= new Set()).add(session);
      this._answer(id, "resolve", await rpc._encode(result, session, "default"), true);
    } catch (error) {
      this._answer(id, "reject", errorValue(error));
    }
  }

  /** hypha-rpc's parameter names of `fn`, `context` aside (read from its source once). */
  _parameters(fn, paramNames) {
    let names = this.parameterNames.get(fn);
    if (!names) {
      names = paramNames(fn).filter((name) => name !== "context");
      this.parameterNames.set(fn, names);
    }
    return names;
  }

  /** What this path runs exactly as root's hypha-rpc would; the rest goes over the wire. */
  _mayRunHere(rpc, fn, annotation, context) {
    if (GENERATOR_FUNCTIONS.has(fn.constructor && fn.constructor.name)) return false;
    if (annotation.trusted_keys || annotation.rintf_allowed_caller) return false;
    if (Object.keys(rpc._codecs || {}).length > 0) return false;
    if (annotation.visibility === "protected") {
      const callerWorkspace = String(context.from).split("/")[0];
      const own = callerWorkspace === String(context.to).split("/")[0];
      const authorized = Array.isArray(annotation.authorized_workspaces) && annotation.authorized_workspaces.includes(callerWorkspace);
      if (!own && !authorized) return false;
    }
    return true;
  }
}
