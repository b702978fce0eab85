// Copies reference test files, changing only their import lines: hypha-core's source modules
// become this package's entry points. Every other line is copied byte for byte; an import of a
// module we do not map (the file would not load) is an error, not a silent edit.
// Usage: node imports.mjs FROM_DIR TO_DIR FILE...
import fs from "node:fs";
import path from "node:path";

const SPECIFIERS = {
  "../../src/hypha-core.js": "hypha-core-rs",
  "../../src/deno-websocket-server.js": "hypha-core-rs/deno-websocket-server",
};
// A static import (`import ... from '...'` or `import '...'`) on one line.
const IMPORT = /^(\s*import\s+(?:[^'"]*?\s+from\s+)?)(['"])([^'"]+)\2(\s*;?\s*)$/;

const [from, to, ...files] = process.argv.slice(2);
let failed = false;
for (const file of files) {
  const source = fs.readFileSync(path.join(from, file), "utf8");
  const lines = source.split("\n");
  const changed = [];
  const out = lines.map((line, i) => {
    const m = IMPORT.exec(line);
    if (!m) {
      if (/^\s*import\s*[^.(\s]|^\s*}\s*from\s*['"]/.test(line)) {
        console.error(`${file}:${i + 1}: an import this script cannot read: ${line.trim()}`);
        failed = true;
      }
      return line;
    }
    const specifier = m[3];
    if (specifier in SPECIFIERS) {
      const rewritten = `${m[1]}${m[2]}${SPECIFIERS[specifier]}${m[2]}${m[4]}`;
      changed.push(`${file}:${i + 1}: ${line.trim()}  ->  ${rewritten.trim()}`);
      return rewritten;
    }
    if (specifier.startsWith("./") && fs.existsSync(path.join(from, specifier))) return line;
    console.error(`${file}:${i + 1}: no mapping for the import of ${specifier}`);
    failed = true;
    return line;
  });
  if (/\bimport\s*\(/.test(source)) {
    console.error(`${file}: has a dynamic import(): not handled`);
    failed = true;
  }
  fs.writeFileSync(path.join(to, file), out.join("\n"));
  for (const c of changed) console.log(`# import ${c}`);
  if (changed.length === 0) {
    console.error(`${file}: no import line to rewrite`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
