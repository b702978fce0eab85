// Runs a reference test file that has no `import.meta.main` block (jwt-auth-test.js) the way the
// reference's own test/deno/run-all-tests.js does: import it, call its exported runner's run().
// Usage: deno run --allow-net --allow-read --allow-env driver.js FILE RUNNER_EXPORT
const [file, name] = Deno.args;
const module = await import(new URL(`./${file}`, import.meta.url).href);
const runner = module[name];
if (!runner || typeof runner.run !== "function") {
  console.error(`${file} exports no runner named ${name}`);
  Deno.exit(2);
}
const ok = await runner.run();
Deno.exit(ok ? 0 : 1);
