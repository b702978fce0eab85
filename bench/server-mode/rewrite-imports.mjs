// Copy one of hypha-core 0.20.86's test/performance/ scripts with only its two import lines
// rewritten, and check that nothing else changed (same lines, same order, same bytes).
//
// Usage: node bench/server-mode/rewrite-imports.mjs SRC DST HYPHA_CORE_SPECIFIER DENO_SERVER_SPECIFIER
//   e.g. ... quick-max-test.js out/quick-max-test.js hypha-core-rs hypha-core-rs/deno-websocket-server
import { readFileSync, writeFileSync } from "node:fs";

const [src, dst, core, denoServer] = process.argv.slice(2);
if (!denoServer) {
  console.error("usage: rewrite-imports.mjs SRC DST HYPHA_CORE_SPECIFIER DENO_SERVER_SPECIFIER");
  process.exit(2);
}
const IMPORTS = [
  ["import { HyphaCore } from '../../src/hypha-core.js';", `import { HyphaCore } from '${core}';`],
  ["import { DenoWebSocketServer } from '../../src/deno-websocket-server.js';", `import { DenoWebSocketServer } from '${denoServer}';`],
];
const text = readFileSync(src, "utf8");
let out = text;
for (const [from, to] of IMPORTS) {
  const at = out.indexOf(from);
  if (at < 0 || out.indexOf(from, at + 1) >= 0) {
    console.error(`${src}: expected exactly one line \`${from}\``);
    process.exit(1);
  }
  out = out.slice(0, at) + to + out.slice(at + from.length);
}
const a = text.split("\n");
const b = out.split("\n");
const changed = a.map((line, i) => (line !== b[i] ? i : -1)).filter((i) => i >= 0);
if (a.length !== b.length || changed.length !== 2 || !changed.every((i) => a[i].startsWith("import "))) {
  console.error(`${src}: the rewrite touched more than the two import lines`);
  process.exit(1);
}
writeFileSync(dst, out);
