// Reads the output of each reference test file run under Deno, reports every test case (TAP
// lines) and checks the result against expected-failures.txt. Exit 0 only if every case passed
// or failed as listed, with the listed message.
// Usage: node report.mjs EXPECTED_FAILURES TEST_DIR LOG_DIR FILE...
//   LOG_DIR/FILE.log    the run's stdout and stderr
//   LOG_DIR/FILE.status "<exit code> <seconds>"
import fs from "node:fs";
import path from "node:path";

const [listFile, testDir, logDir, ...files] = process.argv.slice(2);

// ---- the allow-list: `file | test name | fails with | reason`
const expected = new Map(); // "file\0name" → {failsWith, reason, line, used}
let bad = false;
fs.readFileSync(listFile, "utf8")
  .split("\n")
  .forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const parts = line.split("|").map((s) => s.trim());
    if (parts.length !== 4 || parts.some((p) => !p)) {
      console.log(`# ${path.basename(listFile)}:${i + 1}: expected "file | test name | fails with | reason"`);
      bad = true;
      return;
    }
    const [file, name, failsWith, reason] = parts;
    expected.set(`${file}\0${name}`, { failsWith, reason, line: i + 1, used: false });
  });

// ---- the cases of one file, from its source and its output
const TEST_CALL = /\.test\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g;

function casesOf(file) {
  const source = fs.readFileSync(path.join(testDir, file), "utf8");
  const log = fs.existsSync(path.join(logDir, `${file}.log`)) ? fs.readFileSync(path.join(logDir, `${file}.log`), "utf8") : "";
  const [code, seconds] = (fs.existsSync(path.join(logDir, `${file}.status`))
    ? fs.readFileSync(path.join(logDir, `${file}.status`), "utf8")
    : "-1 0"
  )
    .trim()
    .split(" ")
    .map(Number);
  const timedOut = code === 124 || code === 137;
  const lines = log.split("\n");
  const names = [...source.matchAll(TEST_CALL)].map((m) => m[2]);
  const results = [];

  if (names.length === 0) {
    // A script without a runner (simple-asgi-test.js): it prints "✅ Test PASSED!" or
    // "❌ Test FAILED …" / "💥 Test failed: …" and always exits 0 itself.
    const title = (lines.find((l) => l.startsWith("🧪 ")) || `🧪 ${file}`).slice(3).replace(/\.+$/, "");
    const passed = lines.some((l) => l.includes("✅ Test PASSED")) && !timedOut && code === 0;
    const message = passed
      ? ""
      : lines
          .filter((l) => /❌|💥|Response received, status|Response text/.test(l))
          .map((l) => l.trim())
          .join("\n") || `no result printed (exit ${code}${timedOut ? ", timed out" : ""})`;
    results.push({ name: title, passed, message });
  } else {
    // DenoTestRunner and its copies: "🧪 <name>", then "✅ PASSED" or "❌ FAILED: <message>"
    // (the message may go on for a few lines, up to a blank line).
    const seen = new Map();
    let current = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.startsWith("🧪 ")) current = line.slice(3).trim();
      else if (current !== null && line.startsWith("✅ PASSED")) {
        seen.set(current, { passed: true, message: "" });
        current = null;
      } else if (current !== null && line.startsWith("❌ FAILED: ")) {
        const message = [line.slice("❌ FAILED: ".length)];
        for (let j = i + 1; j < lines.length && lines[j].trim() !== ""; j++) message.push(lines[j]);
        seen.set(current, { passed: false, message: message.join("\n") });
        current = null;
      }
    }
    for (const name of names) {
      const result = seen.get(name);
      if (result) results.push({ name, ...result });
      else {
        const why = timedOut ? `timed out after ${seconds} s` : `exited with code ${code}`;
        results.push({ name, passed: false, message: `no result: the process ${why} before this case finished` });
      }
    }
    for (const name of seen.keys()) {
      if (!names.includes(name)) results.push({ name, passed: false, message: "reported, but not found in the source" });
    }
    // Every case passed but the process did not end well (hung after close(), crashed at exit).
    const allPassed = results.every((r) => r.passed);
    if (allPassed && (timedOut || code !== 0)) {
      results.push({
        name: "(the process exits by itself, with status 0)",
        passed: false,
        message: timedOut ? `still running after ${seconds} s` : `exit code ${code}`,
      });
    }
  }
  return { results, code, seconds, timedOut };
}

// ---- report
let n = 0;
let pass = 0;
let fail = 0;
let expectedFail = 0;
const perFile = [];
const indent = (text) =>
  text
    .split("\n")
    .map((l) => `#   ${l}`)
    .join("\n");
for (const file of files) {
  const { results, code, seconds, timedOut } = casesOf(file);
  const tally = { pass: 0, fail: 0, expectedFail: 0 };
  console.log(`# ${file}`);
  for (const r of results) {
    n += 1;
    const key = `${file}\0${r.name}`;
    const listed = expected.get(key);
    const label = `${file}: ${r.name}`;
    if (listed) listed.used = true;
    if (r.passed && !listed) {
      console.log(`ok ${n} - ${label}`);
      tally.pass += 1;
    } else if (r.passed && listed) {
      console.log(`not ok ${n} - ${label}`);
      console.log(`#   listed in expected-failures.txt (line ${listed.line}) but PASSED: remove the entry`);
      tally.fail += 1;
    } else if (listed && r.message.includes(listed.failsWith)) {
      console.log(`not ok ${n} - ${label} # TODO expected failure: ${listed.reason}`);
      console.log(indent(`failed as listed: ${r.message}`));
      tally.expectedFail += 1;
    } else {
      console.log(`not ok ${n} - ${label}`);
      if (listed) {
        console.log(`#   listed in expected-failures.txt (line ${listed.line}) as failing with "${listed.failsWith}", but:`);
      }
      console.log(indent(r.message));
      tally.fail += 1;
    }
  }
  pass += tally.pass;
  fail += tally.fail;
  expectedFail += tally.expectedFail;
  perFile.push(
    `# ${file}: ${tally.pass} pass, ${tally.fail} fail, ${tally.expectedFail} expected-fail` +
      ` (exit ${timedOut ? "timeout" : code}, ${seconds} s)`,
  );
}
for (const [key, listed] of expected) {
  const [file, name] = key.split("\0");
  if (listed.used || !files.includes(file)) continue;
  n += 1;
  console.log(`not ok ${n} - expected-failures.txt line ${listed.line}: no case "${name}" in ${file}`);
  fail += 1;
}
if (bad) fail += 1;
console.log(`1..${n}`);
for (const line of perFile) console.log(line);
console.log(`# pass ${pass}`);
console.log(`# fail ${fail}`);
console.log(`# expected-fail ${expectedFail}`);
process.exit(fail === 0 ? 0 : 1);
