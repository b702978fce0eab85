#!/usr/bin/env node
// Bundles the JavaScript facade (js/src), hypha-rpc and the wasm-bindgen glue (pkg/) into
// dist/hypha-core.mjs, copies the .wasm next to it (found at run time via import.meta.url, in a
// form bundlers recognise: see js/src/wasm.js) and the type declarations, then prints the size of
// everything in dist/.
//
// Usage: node scripts/build-js.mjs [--dev] [--no-encryption] [--analyze]
//        (run scripts/build-wasm.sh first)

import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dev = process.argv.includes("--dev");
// --no-encryption ships a tweetnacl chunk that only throws. hypha-rpc's optional end-to-end
// encryption loads that chunk on demand either way.
const noEncryption = process.argv.includes("--no-encryption");
const dist = join(root, "dist");
const wasm = join(root, "pkg", "hypha_core_bg.wasm");

if (!existsSync(wasm) || !existsSync(join(root, "pkg", "hypha_core.js"))) {
  console.error("pkg/ is missing: run scripts/build-wasm.sh first");
  process.exit(1);
}

// hypha-rpc's package entry re-exports its webpack bundle; its ES sources tree-shake and
// minify better, so bundle those.
const hyphaRpcSource = join(root, "node_modules", "hypha-rpc", "src", "websocket-client.js");
const hyphaRpcFromSource = {
  name: "hypha-rpc-from-source",
  setup(b) {
    if (!existsSync(hyphaRpcSource)) return;
    b.onResolve({ filter: /^hypha-rpc$/ }, () => ({ path: hyphaRpcSource }));
    // hypha-rpc's own helpers the facade uses (its parameter names for keyword arguments).
    b.onResolve({ filter: /^hypha-rpc\/rpc$/ }, () => ({ path: join(dirname(hyphaRpcSource), "rpc.js") }));
  },
};

// hypha-rpc's connectToServer sleeps 100 ms after the handshake "to let manager_id arrive"
// (src/websocket-client.js, after `connection.open()`), then polls for it if it is still missing.
// This server sends manager_id in the handshake answer, so the sleep only delays every client
// that starts here (the root API in start(), connect(), and the app templates) by 100 ms. The
// build drops that one statement; the poll that follows stays. It fails if hypha-rpc changes.
const CONNECT_SLEEP = "await new Promise((resolve) => setTimeout(resolve, 100));\n  // Ensure manager_id is set";
const hyphaRpcWithoutConnectSleep = {
  name: "hypha-rpc-without-connect-sleep",
  setup(b) {
    b.onLoad({ filter: /hypha-rpc[\\/]src[\\/]websocket-client\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const at = source.indexOf(CONNECT_SLEEP);
      if (at < 0 || source.indexOf(CONNECT_SLEEP, at + 1) >= 0) {
        throw new Error(`${args.path}: the 100 ms connect sleep is not where this build expects it`);
      }
      const contents = source.slice(0, at) + "// Ensure manager_id is set" + source.slice(at + CONNECT_SLEEP.length);
      return { contents, loader: "js" };
    });
  },
};

// @msgpack/msgpack 2.8 (hypha-rpc's codec) encodes and decodes every string, even two characters
// long, through TextEncoder/TextDecoder in browsers (threshold 0; 200 in Node), and those calls
// were a sixth of the page's time per in-tab call. Browsers get Node's threshold: strings under
// 200 bytes use msgpack's own loop. Fails the build if the file changes.
const MSGPACK_BROWSER_THRESHOLD = /\n(\s*)\? 200\n\s*: 0;/g;
const msgpackStringThreshold = {
  name: "msgpack-string-threshold",
  setup(b) {
    b.onLoad({ filter: /@msgpack[\\/]msgpack[\\/].*[\\/]utils[\\/]utf8\.m?js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const found = source.match(MSGPACK_BROWSER_THRESHOLD) || [];
      if (found.length !== 2) {
        throw new Error(`${args.path}: expected the two TextEncoder/TextDecoder thresholds, found ${found.length}`);
      }
      return { contents: source.replace(MSGPACK_BROWSER_THRESHOLD, "\n$1? 200\n$1: 200;"), loader: "js" };
    });
  },
};

// @msgpack/msgpack 2.8's `encode` builds a new Encoder, with a fresh 2 KB buffer, for every
// message hypha-rpc sends. Calls without options (all of hypha-rpc's) share one Encoder instead
// and get a copy of exactly the encoded bytes (`Encoder#encode`), so no result aliases the next.
// Encoding is synchronous and hypha-rpc registers no extension that encodes inside an encode,
// so the shared encoder is never re-entered; one whose buffer a large message grew past 1 MiB is
// let go. Fails the build if the file changes.
const MSGPACK_ENCODE_BODY =
  "    var encoder = new Encoder(options.extensionCodec, options.context, options.maxDepth, options.initialBufferSize, options.sortKeys, options.forceFloat32, options.ignoreUndefined, options.forceIntegerToFloat);\n    return encoder.encodeSharedRef(value);";
const msgpackSharedEncoder = {
  name: "msgpack-shared-encoder",
  setup(b) {
    b.onLoad({ filter: /@msgpack[\\/]msgpack[\\/].*[\\/]encode\.m?js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const at = source.indexOf(MSGPACK_ENCODE_BODY);
      if (at < 0) throw new Error(`${args.path}: encode() is not what this build expects`);
      // A buffer grown past 1 MiB by a large message is not kept for the page's lifetime.
      const shared =
        "    if (options === defaultEncodeOptions) {\n" +
        "      var shared = sharedEncoder || (sharedEncoder = new Encoder());\n" +
        "      try { return shared.encode(value); }\n" +
        "      finally { if (shared.bytes.byteLength > 1048576) sharedEncoder = null; }\n" +
        "    }\n";
      const contents =
        source.slice(0, at) + shared + source.slice(at) + "\nvar sharedEncoder = null;\n";
      return { contents, loader: "js" };
    });
  },
};

// hypha-rpc arms a timer for each call it makes and an interval for each call it answers, and
// clears both microseconds later: ~8 µs of every in-tab call went to the runtime's timers.
// Its rpc.js gets js/src/timers.js's setTimeout/setInterval instead (same contract, one real
// timer), imported over the globals. Fails the build if rpc.js declares those names itself.
const coalescedTimers = join(root, "js", "src", "timers.js");
const TIMER_NAMES = ["setTimeout", "clearTimeout", "setInterval", "clearInterval"];
const hyphaRpcCoalescedTimers = {
  name: "hypha-rpc-coalesced-timers",
  setup(b) {
    b.onLoad({ filter: /hypha-rpc[\\/]src[\\/]rpc\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      for (const name of TIMER_NAMES) {
        if (new RegExp(`(function|const|let|var|class)\\s+${name}\\b|import[^;]*\\b${name}\\b`).test(source)) {
          throw new Error(`${args.path} defines or imports ${name}: the coalesced timers would shadow it`);
        }
      }
      const contents = `import { ${TIMER_NAMES.join(", ")} } from ${JSON.stringify(coalescedTimers)};\n${source}`;
      return { contents, loader: "js" };
    });
  },
};

// tweetnacl (hypha-rpc's optional end-to-end encryption) falls back to Node's `crypto` module
// where there is no `self.crypto`; give it Web Crypto instead of a Node built-in.
const nodeCryptoShim = {
  name: "node-crypto-shim",
  setup(b) {
    b.onResolve({ filter: /^crypto$/ }, () => ({ path: "crypto", namespace: "crypto-shim" }));
    b.onLoad({ filter: /.*/, namespace: "crypto-shim" }, () => ({
      contents:
        "module.exports = { randomBytes(n) { const b = new Uint8Array(n); " +
        "globalThis.crypto.getRandomValues(b); return b; } };",
      loader: "js",
    }));
  },
};

const withoutTweetnacl = {
  name: "without-tweetnacl",
  setup(b) {
    b.onResolve({ filter: /^tweetnacl$/ }, () => ({ path: "tweetnacl", namespace: "no-tweetnacl" }));
    b.onLoad({ filter: /.*/, namespace: "no-tweetnacl" }, () => ({
      contents: 'throw new Error("this build of hypha-core has no end-to-end encryption (built with --no-encryption)");',
      loader: "js",
    }));
  },
};

// The chunks loaded on demand (the plugin parser, imjoy-rpc's page side) are literal dynamic
// imports in js/src; in dist/hypha-core.mjs they stay literal imports of their own dist files, so
// a browser, Node or Deno loads them from beside the module and Vite or webpack makes them lazy
// chunks of the consumer's build.
const LAZY_CHUNKS = {
  "./plugin-parser.js": "./hypha-core-plugin.mjs",
  "./imjoy-rpc-core.js": "./hypha-core-imjoy.mjs",
  "./nacl.js": "./hypha-core-nacl.mjs",
};
const lazyChunks = {
  name: "lazy-chunks",
  setup(b) {
    b.onResolve({ filter: /^\.\/(plugin-parser|imjoy-rpc-core|nacl)\.js$/ }, (args) => {
      if (args.kind !== "dynamic-import") {
        throw new Error(`${args.importer}: ${args.path} must only be imported dynamically (it is a lazy chunk)`);
      }
      return { path: LAZY_CHUNKS[args.path], external: true };
    });
  },
};

// hypha-rpc's end-to-end encryption requires tweetnacl synchronously from its crypto.js; the page
// bundle gets js/src/crypto-lazy.js instead, which imports it (the ./nacl.js chunk) on first use.
const cryptoLazy = join(root, "js", "src", "crypto-lazy.js");
const lazyTweetnacl = {
  name: "lazy-tweetnacl",
  setup(b) {
    b.onResolve({ filter: /^\.\/crypto\.js$/ }, (args) =>
      /hypha-rpc[\\/]src$/.test(args.resolveDir) ? { path: cryptoLazy } : undefined,
    );
  },
};

// imjoy-rpc loads `mjs:` requirements with `import(/* webpackIgnore: true */ url)`; minified,
// the comment is gone and webpack warns about (and breaks) a dynamic import of an expression in
// every consumer's build. Build that import at run time instead, as hypha-rpc does. Fails the
// build if the file changes.
const IMJOY_REQUIREMENT_IMPORT = "await import(/* webpackIgnore: true */ requirements[i]);";
const imjoyRequirementImport = {
  name: "imjoy-requirement-import",
  setup(b) {
    b.onLoad({ filter: /imjoy-rpc[\\/]src[\\/]utils\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const at = source.indexOf(IMJOY_REQUIREMENT_IMPORT);
      if (at < 0 || source.indexOf(IMJOY_REQUIREMENT_IMPORT, at + 1) >= 0) {
        throw new Error(`${args.path}: the requirement import is not where this build expects it`);
      }
      const contents =
        source.slice(0, at) +
        'await new Function("url", "return import(url)")(requirements[i]);' +
        source.slice(at + IMJOY_REQUIREMENT_IMPORT.length);
      return { contents, loader: "js" };
    });
  },
};

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const result = await build({
  entryPoints: [join(root, "js", "src", "index.js")],
  outfile: join(dist, "hypha-core.mjs"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  conditions: ["import", "default"],
  target: ["es2020"],
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  plugins: [
    lazyChunks,
    hyphaRpcFromSource,
    hyphaRpcWithoutConnectSleep,
    msgpackStringThreshold,
    msgpackSharedEncoder,
    hyphaRpcCoalescedTimers,
    lazyTweetnacl,
  ],
  banner: { js: "// hypha-core (Rust/WebAssembly edition): https://github.com/ - MIT" },
});

if (!Object.keys(result.metafile.inputs).some((path) => path.endsWith(join("js", "src", "timers.js")))) {
  console.error("dist/hypha-core.mjs does not bundle js/src/timers.js: hypha-rpc's rpc.js was not patched");
  process.exit(1);
}

// The page must not carry tweetnacl: it is the lazy chunk below.
const eager = Object.keys(result.metafile.inputs).filter((path) => /tweetnacl|hypha-rpc[\\/]src[\\/]crypto\.js/.test(path));
if (eager.length) {
  console.error(`dist/hypha-core.mjs bundles ${eager.join(", ")}: encryption must load on demand`);
  process.exit(1);
}

/** A chunk the page loads on demand, as its own ES module beside `hypha-core.mjs`. */
async function buildChunk(entry, outName, plugins = []) {
  await build({
    entryPoints: [join(root, "js", "src", entry)],
    outfile: join(dist, outName),
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    target: ["es2020"],
    minify: !dev,
    legalComments: "none",
    logLevel: "warning",
    plugins,
  });
}

// Loaded only when a client enables end-to-end encryption: tweetnacl (--no-encryption: a module
// that says this build has none).
await buildChunk("nacl.js", "hypha-core-nacl.mjs", [noEncryption ? withoutTweetnacl : nodeCryptoShim]);
// Loaded only when an app may be plugin source: the parser's glue (its .wasm is copied below).
await buildChunk("plugin-parser.js", "hypha-core-plugin.mjs");
// Loaded only when a legacy imjoy-rpc app appears: the page side of imjoy-rpc (its RPC class).
await buildChunk("imjoy-rpc-core.js", "hypha-core-imjoy.mjs", [imjoyRequirementImport]);

// Server mode (Deno, Node): the listener driver and the server-mode wasm glue. `ws` (Node's
// WebSocket server) stays a run-time dependency of the package.
await build({
  entryPoints: [join(root, "js", "src", "server", "index.js")],
  outfile: join(dist, "deno-websocket-server.mjs"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  target: ["es2022"],
  external: ["ws", "node:*"],
  minify: !dev,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(root, "pkg", "hypha_core_server_bg.wasm"), join(dist, "hypha_core_server_bg.wasm"));

copyFileSync(wasm, join(dist, "hypha_core_bg.wasm"));
copyFileSync(join(root, "pkg", "hypha_core_plugin_bg.wasm"), join(dist, "hypha_core_plugin_bg.wasm"));
for (const name of ["index.d.ts", "deno-websocket-server.d.ts"]) {
  copyFileSync(join(root, "js", name), join(dist, name));
}
// The app templates and the hypha-rpc build they load (served from `baseUrl`, no CDN).
for (const name of readdirSync(join(root, "js", "templates"))) {
  copyFileSync(join(root, "js", "templates", name), join(dist, name));
}
// What the templates load: hypha-rpc as a classic script defining `hyphaWebsocketClient`, like
// its own UMD build, from the same sources and with the same connect-sleep fix as the bundle.
await build({
  entryPoints: [hyphaRpcSource],
  outfile: join(dist, "hypha-rpc-websocket.min.js"),
  bundle: true,
  format: "iife",
  globalName: "hyphaWebsocketClient",
  platform: "browser",
  target: ["es2020"],
  minify: !dev,
  legalComments: "none",
  logLevel: "warning",
  plugins: [
    hyphaRpcWithoutConnectSleep,
    msgpackStringThreshold,
    msgpackSharedEncoder,
    hyphaRpcCoalescedTimers,
    nodeCryptoShim,
  ],
});

// What bundlers must see, literally, for the consumer's build to find the .wasm files and the
// lazy chunks (Vite and webpack 5 rewrite `new URL("<literal>", import.meta.url)` to the asset
// they emit, and split literal dynamic imports into chunks).
const MUST_KEEP = {
  "hypha-core.mjs": [
    /new URL\(\s*"\.\/hypha_core_bg\.wasm"\s*,\s*import\.meta\.url\s*\)/,
    /import\(\s*"\.\/hypha-core-plugin\.mjs"\s*\)/,
    /import\(\s*"\.\/hypha-core-imjoy\.mjs"\s*\)/,
    /import\(\s*"\.\/hypha-core-nacl\.mjs"\s*\)/,
  ],
  "hypha-core-plugin.mjs": [/new URL\(\s*"\.\/hypha_core_plugin_bg\.wasm"\s*,\s*import\.meta\.url\s*\)/],
};
for (const [name, patterns] of Object.entries(MUST_KEEP)) {
  const text = readFileSync(join(dist, name), "utf8");
  for (const pattern of patterns) {
    if (!pattern.test(text)) {
      console.error(`dist/${name} lost ${pattern}: bundlers would not find the file it names`);
      process.exit(1);
    }
  }
}

const kb = (n) => (n / 1024).toFixed(1).padStart(7) + " KB";
let rawRuntime = 0;
let gzRuntime = 0;
console.log("dist/                      raw        gzip");
for (const name of readdirSync(dist).sort()) {
  const path = join(dist, name);
  if (!statSync(path).isFile()) continue;
  const data = readFileSync(path);
  const gz = gzipSync(data, { level: 9 }).length;
  // What a page downloads to run the server; templates and chunks load only with apps.
  if (name === "hypha-core.mjs" || name === "hypha_core_bg.wasm") {
    rawRuntime += data.length;
    gzRuntime += gz;
  }
  console.log(`  ${name.padEnd(22)} ${kb(data.length)} ${kb(gz)}`);
}
console.log(`  ${"page (module + wasm)".padEnd(22)} ${kb(rawRuntime)} ${kb(gzRuntime)}`);
if (process.argv.includes("--analyze")) {
  const { analyzeMetafile } = await import("esbuild");
  console.log(await analyzeMetafile(result.metafile));
}
