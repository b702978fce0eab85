#!/usr/bin/env node
// Puts what web-python apps need into dist/web-python/, from the registries only:
//   pyodide/        Pyodide's runtime from npm `pyodide` (the interpreter and its stdlib)
//   wheels/         the pure-Python wheels of js/python/wheels.txt, from PyPI (cached in
//                   .cache/python-wheels/, so a rebuild downloads nothing)
//   boot.py         the Python side of the worker (js/python/boot.py)
//   manifest.json   the Pyodide version and every file with its size and sha256; the worker
//                   template (js/templates/hypha-app-webpython.js) checks each wheel against it
// Nothing here is fetched by a page until it loads a web-python app. Run after build-js.mjs,
// which empties dist/.
//
// Usage: node scripts/build-python.mjs [--add "name==version ..."]
//   --add (or HYPHA_PYTHON_WHEELS): more pure-Python wheels from PyPI, shipped as `extra`:
//   installed in a web-python worker when a plugin's `requirements` name them.
// Fails with a clear error when a wheel is not pure Python (Pyodide cannot load CPython's).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "web-python");
const cache = join(root, ".cache", "python-wheels");
const pyodideDir = join(root, "node_modules", "pyodide");
// What loadPyodide fetches from its indexURL (the classic-worker build; no source maps, no types).
const PYODIDE_FILES = ["pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"];
const PYTHON = process.env.PYTHON || "python3";

function fail(message) {
  console.error(`build-python: ${message}`);
  process.exit(1);
}

/** PEP 503 normalized project name: what a plugin's `requirements` entry is matched by. */
function normalizeName(name) {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

/** `[{spec, name, role, sdistEnv}]` from js/python/wheels.txt and the extras asked for. */
function wantedWheels(extra) {
  const wanted = [];
  let role = null;
  for (const raw of readFileSync(join(root, "js", "python", "wheels.txt"), "utf8").split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const section = line.match(/^\[(\w+)\]$/);
    if (section) {
      role = section[1];
      continue;
    }
    if (!role) fail(`js/python/wheels.txt: "${line}" is outside a [section]`);
    const [spec, flag, ...env] = line.split(/\s+/);
    if (flag && flag !== "--pure-from-sdist") fail(`js/python/wheels.txt: unknown option ${flag}`);
    wanted.push({ spec, role, sdistEnv: flag ? env : null });
  }
  for (const spec of extra) wanted.push({ spec, role: "extra", sdistEnv: null });
  for (const w of wanted) {
    const m = w.spec.match(/^([A-Za-z0-9][A-Za-z0-9._-]*)(==[A-Za-z0-9.+!-]+)?$/);
    if (!m) fail(`"${w.spec}": give a project name, optionally with ==version`);
    w.name = normalizeName(m[1]);
  }
  return wanted;
}

/** A pure-Python wheel file name: python tag py*, abi none, platform any. */
function isPureWheel(file) {
  const parts = file.replace(/\.whl$/, "").split("-");
  return parts.length >= 5 && /^py\d/.test(parts.at(-3)) && parts.at(-2) === "none" && parts.at(-1) === "any";
}

/** The cached wheel of `w`, downloading (or building) it first if needed. */
function wheelFor(w) {
  const dir = join(cache, w.spec.replace(/[^A-Za-z0-9._=-]/g, "_"));
  const cached = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".whl")) : [];
  if (cached.length === 1) return join(dir, cached[0]);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const pip = [PYTHON, "-m", "pip", "--disable-pip-version-check", "-q"];
  try {
    if (w.sdistEnv) {
      const env = { ...process.env };
      for (const assignment of w.sdistEnv) {
        const [key, value] = assignment.split("=");
        env[key] = value;
      }
      execFileSync(pip[0], [...pip.slice(1), "wheel", "--no-cache-dir", "--no-deps", "--no-binary", ":all:", "-w", tmp, w.spec], {
        env,
        stdio: ["ignore", "inherit", "inherit"],
      });
    } else {
      // Only wheels any Python may load: pip refuses binary wheels and sdists here.
      execFileSync(
        pip[0],
        [...pip.slice(1), "download", "--no-deps", "--only-binary=:all:", "--platform", "any", "--abi", "none"]
          .concat(["--implementation", "py", "--python-version", "3.12", "-d", tmp, w.spec]),
        { stdio: ["ignore", "inherit", "inherit"] },
      );
    }
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    fail(
      `${w.spec}: no pure-Python wheel (py3-none-any) could be fetched from PyPI. ` +
        "Pyodide cannot load CPython's binary wheels, and the registries have no WebAssembly ones, " +
        "so web-python apps can only use pure-Python packages.",
    );
  }
  const files = readdirSync(tmp).filter((f) => f.endsWith(".whl"));
  if (files.length !== 1) fail(`${w.spec}: expected one wheel, pip gave ${files.join(", ") || "none"}`);
  if (!isPureWheel(files[0])) {
    rmSync(tmp, { recursive: true, force: true });
    fail(`${w.spec}: ${files[0]} is not a pure-Python wheel (py3-none-any); Pyodide cannot load it`);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return join(dir, files[0]);
}

function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

const argv = process.argv.slice(2);
const addAt = argv.indexOf("--add");
const extra = [
  ...(addAt >= 0 ? (argv[addAt + 1] || "").split(/[\s,]+/) : []),
  ...(process.env.HYPHA_PYTHON_WHEELS || "").split(/[\s,]+/),
].filter(Boolean);
if (!existsSync(join(root, "dist", "hypha-core.mjs"))) fail("dist/ is missing: run scripts/build-js.mjs first");
if (!existsSync(join(pyodideDir, "pyodide.asm.wasm"))) fail("node_modules/pyodide is missing: run npm ci");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "pyodide"), { recursive: true });
mkdirSync(join(out, "wheels"), { recursive: true });

const pyodidePackage = JSON.parse(readFileSync(join(pyodideDir, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(pyodideDir, "pyodide-lock.json"), "utf8"));
const manifest = {
  pyodide: { version: pyodidePackage.version, python: lock.info.python, files: [] },
  wheels: [],
};
let raw = 0;
let gzip = 0;
for (const file of PYODIDE_FILES) {
  const bytes = readFileSync(join(pyodideDir, file));
  copyFileSync(join(pyodideDir, file), join(out, "pyodide", file));
  manifest.pyodide.files.push({ file, size: bytes.length, sha256: sha256(bytes) });
  raw += bytes.length;
  gzip += gzipSync(bytes, { level: 9 }).length;
}
const seen = new Set();
for (const w of wantedWheels(extra)) {
  if (seen.has(w.name)) fail(`${w.name} is asked for twice`);
  seen.add(w.name);
  const path = wheelFor(w);
  const file = path.split(/[\\/]/).at(-1);
  const bytes = readFileSync(path);
  copyFileSync(path, join(out, "wheels", file));
  const version = file.split("-")[1];
  manifest.wheels.push({ name: w.name, version, file, role: w.role, size: bytes.length, sha256: sha256(bytes) });
  raw += bytes.length;
  gzip += gzipSync(bytes, { level: 9 }).length;
}
// The Python the worker template runs once hypha-rpc is installed (js/python/boot.py).
copyFileSync(join(root, "js", "python", "boot.py"), join(out, "boot.py"));
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");

const roles = (role) => manifest.wheels.filter((w) => w.role === role).map((w) => `${w.name} ${w.version}`);
console.log(
  `dist/web-python/: Pyodide ${manifest.pyodide.version} (Python ${manifest.pyodide.python}), ` +
    `${manifest.wheels.length} wheels; ${(raw / 1048576).toFixed(1)} MiB raw, ${(gzip / 1048576).toFixed(1)} MiB gzip -9`,
);
console.log(`  core: ${roles("core").join(", ")}`);
console.log(`  installer: ${roles("installer").join(", ")}`);
if (roles("extra").length) console.log(`  extra: ${roles("extra").join(", ")}`);
