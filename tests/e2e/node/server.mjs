// Test helpers: spawn hypha-core-server, mint JWTs, connect hypha-rpc clients.
//
// startServer({secret}) spawns $HYPHA_CORE_SERVER_BIN on a free port and
// resolves once it printed its LISTENING line. For validating the suites
// against another Hypha server, HYPHA_TEST_SERVER_URL=http://host:port makes
// startServer() return that server instead (secret from HYPHA_TEST_JWT_SECRET,
// usually unknown, so tests that need our server's security model skip).
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { hyphaWebsocketClient } from "hypha-rpc";

if (typeof globalThis.WebSocket !== "function") {
  throw new Error(
    "No global WebSocket in this Node: run with NODE_OPTIONS=--experimental-websocket (Node 20) or use Node >= 22",
  );
}

const LISTENING_RE = /HYPHA_CORE_SERVER_LISTENING\s+(https?:\/\/\S+)/;
const START_TIMEOUT_MS = 20_000;
const live = new Set();

// Last-resort cleanup if a test file exits without calling stop().
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
});

export const EXTERNAL = Boolean(process.env.HYPHA_TEST_SERVER_URL);

export function randomSecret() {
  return crypto.randomBytes(24).toString("hex");
}

export async function startServer({ secret = randomSecret(), port = 0 } = {}) {
  if (EXTERNAL) {
    const url = process.env.HYPHA_TEST_SERVER_URL.replace(/\/+$/, "");
    return {
      url,
      port: Number(new URL(url).port),
      secret: process.env.HYPHA_TEST_JWT_SECRET || null,
      external: true,
      async stop() {},
    };
  }
  const bin = process.env.HYPHA_CORE_SERVER_BIN;
  if (!bin) {
    throw new Error(
      "HYPHA_CORE_SERVER_BIN is not set (scripts/test.sh sets it to target/debug/hypha-core-server)",
    );
  }
  const child = spawn(
    bin,
    ["--host", "127.0.0.1", "--port", String(port), "--jwt-secret", secret],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" } },
  );
  live.add(child);
  let pidFile = null;
  if (process.env.HYPHA_TEST_RUN_DIR && child.pid) {
    pidFile = path.join(process.env.HYPHA_TEST_RUN_DIR, `server-${child.pid}.pid`);
    try {
      fs.writeFileSync(pidFile, String(child.pid));
    } catch {
      pidFile = null;
    }
  }
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.once("exit", () => {
    live.delete(child);
    if (pidFile) fs.rmSync(pidFile, { force: true });
  });
  const verbose = Boolean(process.env.HYPHA_TEST_VERBOSE);

  const url = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      reject(new Error(`server did not print its LISTENING line within ${START_TIMEOUT_MS} ms; output:\n${output}`));
    }, START_TIMEOUT_MS);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`failed to spawn ${bin}: ${err.message}`));
    });
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      output += chunk;
      if (verbose) process.stderr.write(`[server] ${chunk}`);
      buf += chunk;
      const m = buf.match(LISTENING_RE);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/+$/, ""));
      }
    });
    child.stderr.on("data", (chunk) => {
      output = (output + chunk).slice(-20_000);
      if (verbose) process.stderr.write(`[server] ${chunk}`);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal}); output:\n${output}`));
    });
  }).catch(async (err) => {
    child.kill("SIGKILL");
    await exited;
    throw err;
  });

  return {
    url,
    port: Number(new URL(url).port),
    secret,
    external: false,
    get output() {
      return output;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---- JWT ---------------------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export function signJwt(payload, secret, header = { alg: "HS256", typ: "JWT" }) {
  const h = b64url(JSON.stringify(header));
  const p = b64url(JSON.stringify(payload));
  if (header.alg === "none") return `${h}.${p}.`;
  const sig = crypto.createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url");
  return `${h}.${p}.${sig}`;
}

export function claims(extra = {}, lifetimeSec = 3600) {
  const now = Math.floor(Date.now() / 1000);
  return {
    roles: [],
    scope: "",
    iat: now,
    exp: now + lifetimeSec,
    iss: "hypha-core",
    aud: "hypha-api",
    ...extra,
  };
}

export function rootToken(secret, extra = {}) {
  return signJwt(claims({ sub: "root", roles: ["admin"], ...extra }), secret);
}

/** A token for a regular (non-admin) user whose workspace is ws-user-<sub>. */
export function userToken(secret, sub, extra = {}) {
  return signJwt(claims({ sub, workspace: `ws-user-${sub}`, email: `${sub}@example.com`, ...extra }), secret);
}

// ---- clients -----------------------------------------------------------

export const METHOD_TIMEOUT = 10;

const clientsByTest = new WeakMap();

/**
 * connectToServer with short timeouts and a quiet logger. With a test context
 * `t`, the client is disconnected when the test ends (after a short grace
 * period, newest client first, so in-flight replies can finish).
 */
export async function connect(server, opts = {}, t = null) {
  const client = await hyphaWebsocketClient.connectToServer({
    server_url: server.url,
    method_timeout: METHOD_TIMEOUT,
    logger: process.env.HYPHA_TEST_VERBOSE ? console : null,
    ...opts,
  });
  if (t) {
    let list = clientsByTest.get(t);
    if (!list) {
      list = [];
      clientsByTest.set(t, list);
      t.after(async () => {
        await new Promise((r) => setTimeout(r, 250));
        for (const c of list.reverse()) await safeDisconnect(c);
        await new Promise((r) => setTimeout(r, 50));
      });
    }
    list.push(client);
  }
  return client;
}

export async function safeDisconnect(client) {
  try {
    await Promise.race([client.disconnect(), new Promise((r) => setTimeout(r, 3000))]);
  } catch {
    /* already closed */
  }
}

export function uid(prefix = "t") {
  return `${prefix}${crypto.randomBytes(5).toString("hex")}`;
}

/**
 * Two clients in the same workspace: with a known secret both use one minted
 * user token; against an external server the second uses the first's
 * generateToken().
 */
export async function twoClientsSameWorkspace(server, t) {
  if (server.secret) {
    const token = userToken(server.secret, uid("user"));
    const a = await connect(server, { token, client_id: uid("prov") }, t);
    const b = await connect(server, { token, client_id: uid("cons"), workspace: a.config.workspace }, t);
    return [a, b];
  }
  const a = await connect(server, { client_id: uid("prov") }, t);
  const token = await a.generateToken({});
  const b = await connect(server, { token, client_id: uid("cons"), workspace: a.config.workspace }, t);
  return [a, b];
}

/** Poll `fn` until it returns truthy or `ms` elapse; returns the last value. */
export async function waitUntil(fn, ms = 5000, step = 100) {
  const deadline = Date.now() + ms;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, step));
  }
}

/** Resolves to {ok:true,value} or {ok:false,error}, failing if it takes longer than `ms`. */
export async function settle(promise, ms = 15000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return { ok: true, value: await Promise.race([promise, timeout]) };
  } catch (error) {
    if (String(error?.message).startsWith("no answer within")) throw error;
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}
