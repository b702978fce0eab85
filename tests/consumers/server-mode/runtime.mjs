// Start serve.mjs (the seed README's server-mode example) under Node or Deno on a free port, and
// stop it. SERVER_MODE_PROJECT: a project with hypha-core-rs installed (the consumers stage), where
// serve.mjs is copied and run; without it, serve.mjs runs here and imports this package by its own
// name. DENO_BIN: the deno binary (Deno is skipped without it); SERVER_MODE_RUNTIMES: node,deno.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../../js/test-fixtures/free-port.mjs";

const HERE = fileURLToPath(new URL("./serve.mjs", import.meta.url));
const PROJECT = process.env.SERVER_MODE_PROJECT;
const SERVE = PROJECT ? path.join(PROJECT, "serve.mjs") : HERE;
if (PROJECT) fs.copyFileSync(HERE, SERVE);

export function runtimes() {
  const wanted = (process.env.SERVER_MODE_RUNTIMES || "node,deno").split(",");
  return wanted.filter((r) => r !== "deno" || process.env.DENO_BIN);
}

/** Spawn the example under `runtime`; resolves `{url, wsUrl, secret, stop(), output()}` once ready. */
export async function startServerMode(runtime) {
  const port = await freePort();
  const secret = crypto.randomBytes(16).toString("hex");
  const command =
    runtime === "deno"
      ? [process.env.DENO_BIN, ["run", "--allow-net", "--allow-read", "--allow-env", SERVE, String(port), secret]]
      : [process.execPath, [SERVE, String(port), secret]];
  const child = spawn(command[0], command[1], {
    cwd: path.dirname(SERVE),
    stdio: ["ignore", "pipe", "pipe"],
    env: process.env,
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime}: not ready in 30 s:\n${output}`)), 30000);
    const check = () => {
      if (/^ready /m.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", check);
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`${runtime} exited (${code}) before it was ready:\n${output}`));
    });
  });
  return {
    runtime,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    secret,
    output: () => output,
    /** SIGTERM; resolves with how the process ended (it must exit by itself after close()). */
    async stop(ms = 10000) {
      if (child.exitCode !== null) return { code: child.exitCode, signal: null, forced: false };
      child.kill("SIGTERM");
      const timer = new Promise((resolve) => setTimeout(() => resolve(null), ms));
      const ended = await Promise.race([exited, timer]);
      if (ended) return { ...ended, forced: false };
      child.kill("SIGKILL");
      return { ...(await exited), forced: true };
    },
  };
}
