// Playwright config for hypha-core@0.20.86's own integration specs (tests/refspecs/run.sh).
//
// run.sh copies this file into its work dir, next to the unchanged specs (test/integration/)
// and a node_modules link to the cached @playwright/test, and runs it once per site with:
//   REFSPECS_SITE     the folder the browser sees at http://localhost:8080/ (the specs' address)
//   REFSPECS_PORT     the 127.0.0.1 port that folder is really served on
//   REFSPECS_SERVER   tests/refspecs/serve-site.mjs
//   REFSPECS_LABEL    "reference" or "ours" (names the output folder)
//   REFSPECS_JSON     where the JSON report goes
//   REFSPECS_WORKERS  parallel workers (default 2)
//   REFSPECS_MIRROR_PORT, REFSPECS_MIRROR_HOSTS
//                     when set (run.sh without --no-mirror): the 127.0.0.1 port of the HTTPS CDN
//                     mirror (cdn-mirror.mjs) and the comma-separated hosts it stands in for
//
// The specs hard-code http://localhost:8080. Chromium's --host-resolver-rules sends that
// host:port to REFSPECS_PORT, so both sites can run at once, each on its own port, while every
// page, iframe and worker still has the origin http://localhost:8080 (and 8080 may be taken).
//
// Other differences from the reference's playwright.config.js, all about the machine, not the
// specs: Chromium only (Debian's /usr/bin/chromium, no browser download), our static server
// instead of `npm start` (webpack), no retries, no html report/video/screenshots. The test
// timeout stays at Playwright's default (30 s), as in the reference's config.
//
// CDNs: with the mirror, the same --host-resolver-rules send <host>:443 of each mirrored CDN
// host to the mirror, whose self-signed certificate Chromium accepts only because of
// --ignore-certificate-errors (here, in this test config, nowhere else). Hosts it does not
// mirror, and every CDN with --no-mirror, fail at DNS in milliseconds (offline), so nothing is
// routed or blocked in Playwright itself. Both sites get exactly the same rules.
import { defineConfig, devices } from "@playwright/test";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run tests/refspecs/run.sh)`);
  return value;
};
const site = need("REFSPECS_SITE");
const label = need("REFSPECS_LABEL");
const port = Number(need("REFSPECS_PORT"));
const mirrorPort = Number(process.env.REFSPECS_MIRROR_PORT || 0);
const mirrorHosts = mirrorPort ? need("REFSPECS_MIRROR_HOSTS").split(",").filter(Boolean) : [];
const hostRules = [`MAP localhost:8080 127.0.0.1:${port}`, ...mirrorHosts.map((h) => `MAP ${h}:443 127.0.0.1:${mirrorPort}`)];

export default defineConfig({
  testDir: join(here, "test", "integration"),
  testMatch: "*.test.js",
  outputDir: join(here, "results", label),
  fullyParallel: true,
  forbidOnly: true,
  retries: 0,
  workers: Number(process.env.REFSPECS_WORKERS || 2),
  timeout: 30_000,
  reporter: [["list"], ["json", { outputFile: need("REFSPECS_JSON") }]],
  use: {
    baseURL: "http://localhost:8080",
    trace: "off",
    video: "off",
    screenshot: "off",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            `--host-resolver-rules=${hostRules.join(", ")}`,
            ...(mirrorPort ? ["--ignore-certificate-errors"] : []),
          ],
        },
      },
    },
  ],
  webServer: {
    command: `node "${need("REFSPECS_SERVER")}" "${site}" --port ${port} --host 127.0.0.1`,
    url: `http://127.0.0.1:${port}/lite.html`,
    reuseExistingServer: false,
    timeout: 15_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
