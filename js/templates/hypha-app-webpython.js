// Runs a Hypha/ImJoy `web-python` plugin inside a Web Worker started by HyphaCore's loadApp,
// offline: Pyodide and the Python hypha-rpc client come from the build (dist/web-python/, made
// by scripts/build-python.mjs from npm and PyPI), never from a CDN.
//
// 1. boot Pyodide from web-python/pyodide/, install the [core] wheels of manifest.json (each
//    checked against its sha256) straight into site-packages (no micropip, no network);
// 2. run web-python/boot.py: it imports hypha_rpc and waits, with setup_local_client, for the
//    page's `initializeHyphaClient` (the parsed plugin is its `config`);
// 3. only then say `hyphaClientReady`, so the page's init cannot arrive before Python listens;
// 4. boot.py installs the plugin's requirements, runs its scripts with `api`, and reports a
//    failure as `hyphaAppError` with the Python error message.
// Progress goes to the page as `hyphaAppProgress` messages ({stage, progress: 0..100}).
//
// Classic worker: Pyodide 0.27 loads its pyodide.asm.js with importScripts. When the page starts
// this worker from another origin (a CDN build), a blob: shim sets `self.HYPHA_APP_BASE_URL`.
(function () {
  const base = self.HYPHA_APP_BASE_URL || self.location.href;
  const root = new URL("web-python/", base).href;
  const report = (error) =>
    self.postMessage({ type: "hyphaAppError", error: String((error && (error.message || error)) || error) });
  const progress = (stage, fraction) => self.postMessage({ type: "hyphaAppProgress", stage, progress: fraction });
  self.addEventListener("unhandledrejection", (event) => report(event.reason));

  async function fetchOk(url, as) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return as === "json" ? response.json() : as === "text" ? response.text() : response.arrayBuffer();
  }

  async function checkedWheel(wheel) {
    const bytes = await fetchOk(root + "wheels/" + wheel.file);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== wheel.sha256) throw new Error(`${wheel.file} does not match its sha256 in manifest.json`);
    return new Uint8Array(bytes);
  }

  async function boot() {
    progress("loading Python", 5);
    const manifest = fetchOk(root + "manifest.json", "json");
    const bootSource = fetchOk(root + "boot.py", "text");
    importScripts(root + "pyodide/pyodide.js");
    const pyodide = await self.loadPyodide({
      indexURL: root + "pyodide/",
      stdout: (line) => console.log(line),
      stderr: (line) => console.error(line),
    });
    const { wheels } = await manifest;
    const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
    const installed = new Set();
    /** Install the shipped wheels named (normalized names); returns the names not shipped. */
    async function installShipped(names) {
      const missing = [];
      const chosen = [];
      for (const name of names) {
        const wheel = wheels.find((w) => w.name === name);
        if (!wheel) missing.push(name);
        else if (!installed.has(name)) chosen.push(wheel);
      }
      const files = await Promise.all(chosen.map(checkedWheel));
      chosen.forEach((wheel, i) => {
        pyodide.unpackArchive(files[i], "wheel", { extractDir: sitePackages });
        installed.add(wheel.name);
      });
      if (chosen.length) pyodide.runPython("import importlib; importlib.invalidate_caches()");
      return missing;
    }
    progress("installing hypha-rpc", 60);
    await installShipped(wheels.filter((w) => w.role === "core").map((w) => w.name));
    // What boot.py calls back into (the wheels are known here, on the JavaScript side).
    self.hyphaWebPython = {
      installShipped: (names) => installShipped(Array.from(names)),
      shipped: wheels.filter((w) => w.role !== "core").map((w) => `${w.name}==${w.version}`),
      progress,
      report,
    };
    progress("starting hypha-rpc", 80);
    await pyodide.runPythonAsync(await bootSource, { filename: "boot.py" });
    self.postMessage({ type: "hyphaClientReady" });
  }

  boot().catch(report);
})();
