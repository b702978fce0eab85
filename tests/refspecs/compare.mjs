#!/usr/bin/env node
// Compares Playwright JSON reports of the reference's specs run against two sites.
//
//   node tests/refspecs/compare.mjs [--reference ref.json] [--ours ours.json]
//
// Prints one row per test (spec file, describe path > title, reference, ours), the totals and,
// when both reports are given, the regressions (pass for the reference, not for ours) with the
// start of ours' error. Exit status: 0 fine; 1 ours passes fewer tests than the reference or
// any test regressed; 2 a report is missing or the run itself failed (e.g. the web server).
import { readFileSync } from "node:fs";
import { basename } from "node:path";

// Specs ours must pass whatever the reference does: the web-python app spec (the reference's
// template needs Pyodide and PyPI from the network; ours ships them in dist/web-python/).
const MUST_PASS_FOR_OURS = ["hypha-core-integration.test.js:747"];

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (name === "--reference" || name === "--ours") opts[name.slice(2)] = argv[++i];
    else throw new Error(`unknown argument: ${name}`);
  }
  if (!opts.reference && !opts.ours) throw new Error("give --reference and/or --ours");
  return opts;
}

/** Map "file :: describe > title" → { file, line, title, passed, status, error, stdout }. */
function loadReport(path, label) {
  let report;
  try {
    report = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`${label}: no usable report at ${path} (${error.message})`);
  }
  const tests = new Map();
  const walk = (suite, titles) => {
    const path = suite.title && !suite.file?.endsWith(suite.title) ? [...titles, suite.title] : titles;
    for (const spec of suite.specs || []) {
      const file = basename(spec.file || suite.file || "?");
      const title = [...path, spec.title].join(" > ");
      for (const test of spec.tests || []) {
        const results = test.results || [];
        const last = results[results.length - 1] || {};
        const error = last.error || (last.errors || [])[0];
        tests.set(`${file} :: ${title}`, {
          file,
          line: spec.line,
          title,
          passed: test.status === "expected" && last.status === "passed",
          status: last.status || test.status,
          error: error ? String(error.message || error.value || "").replace(/\u001b\[[0-9;]*m/g, "") : "",
        });
      }
    }
    for (const child of suite.suites || []) walk(child, path);
  };
  for (const suite of report.suites || []) walk(suite, []);
  const errors = (report.errors || []).map((e) => String(e.message || e.value || e).replace(/\u001b\[[0-9;]*m/g, ""));
  return { tests, errors };
}

const cell = (t) => (t === undefined ? "—" : t.passed ? "pass" : t.status === "skipped" ? "skip" : "FAIL");
const firstLines = (text, n) =>
  text
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.trim())
    .slice(0, n);

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const runs = {};
  let harnessError = false;
  for (const label of ["reference", "ours"]) {
    if (!opts[label]) continue;
    try {
      runs[label] = loadReport(opts[label], label);
    } catch (error) {
      console.error(`ERROR ${error.message}`);
      harnessError = true;
      continue;
    }
    for (const e of runs[label].errors) {
      console.error(`ERROR ${label} run: ${firstLines(e, 3).join(" | ")}`);
      harnessError = true;
    }
  }
  const labels = Object.keys(runs);
  const keys = [...new Set(labels.flatMap((l) => [...runs[l].tests.keys()]))];
  const any = (key) => labels.map((l) => runs[l].tests.get(key)).find(Boolean);
  keys.sort((a, b) => {
    const x = any(a);
    const y = any(b);
    return x.file.localeCompare(y.file) || (x.line || 0) - (y.line || 0);
  });

  const fileWidth = Math.max(4, ...keys.map((k) => `${any(k).file}:${any(k).line}`.length));
  const header = [...labels.map((l) => l.padEnd(9)), "spec".padEnd(fileWidth), "test"].join(" ");
  console.log(header);
  console.log("-".repeat(Math.min(header.length + 60, 160)));
  for (const key of keys) {
    const t = any(key);
    const cells = labels.map((l) => cell(runs[l].tests.get(key)).padEnd(9));
    console.log([...cells, `${t.file}:${t.line}`.padEnd(fileWidth), t.title].join(" "));
  }
  console.log("");

  const total = keys.length;
  const passed = {};
  for (const l of labels) {
    passed[l] = keys.filter((k) => runs[l].tests.get(k)?.passed).length;
    console.log(`${l}: ${passed[l]}/${total} passed`);
  }

  let status = harnessError ? 2 : 0;
  if (runs.ours) {
    const failing = MUST_PASS_FOR_OURS.filter(
      (spec) => !keys.some((k) => `${any(k).file}:${any(k).line}` === spec && runs.ours.tests.get(k)?.passed),
    );
    console.log("");
    console.log(`must pass for ours (${MUST_PASS_FOR_OURS.join(", ")}): ${failing.length ? `failing ${failing.join(", ")}` : "all pass"}`);
    if (failing.length && status === 0) status = 1;
  }
  if (runs.reference && runs.ours) {
    const regressions = keys.filter((k) => runs.reference.tests.get(k)?.passed && !runs.ours.tests.get(k)?.passed);
    const gains = keys.filter((k) => !runs.reference.tests.get(k)?.passed && runs.ours.tests.get(k)?.passed);
    console.log("");
    if (regressions.length === 0) console.log("regressions (pass for the reference, not for ours): none");
    else {
      console.log(`regressions (pass for the reference, not for ours): ${regressions.length}`);
      for (const k of regressions) {
        const t = runs.ours.tests.get(k);
        console.log(`  - ${any(k).file}:${any(k).line} ${any(k).title}`);
        for (const line of firstLines(t ? t.error : "not run", 4)) console.log(`      ${line}`);
      }
    }
    if (gains.length) {
      console.log(`pass for ours, not for the reference: ${gains.length}`);
      for (const k of gains) console.log(`  + ${any(k).file}:${any(k).line} ${any(k).title}`);
    }
    if (status === 0 && (passed.ours < passed.reference || regressions.length > 0)) status = 1;
  }
  return status;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(`ERROR ${error.message}`);
  process.exitCode = 2;
}
