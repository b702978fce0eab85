#!/usr/bin/env bash
# Runs hypha-core@0.20.86's own Playwright integration specs (test/integration/*.test.js of the
# npm package, unchanged) against the reference's bundle and against ours, offline, and compares.
#
#   tests/refspecs/run.sh [--dist DIR] [--only ours|reference] [--workers N] [--serial] [--keep]
#                         [--no-mirror]
#
#   --dist DIR     our build to test (default: <repo>/dist); copied at the start of the run
#   --only WHICH   run one site only (no comparison)
#   --workers N    Playwright workers per site (default 2)
#   --serial       run the sites one after the other (default: both at once, ~4 min in all)
#   --keep         keep the work dir (sites, specs, JSON reports, test output) and print its path
#   --no-mirror    no CDN mirror: every CDN request fails at DNS, as offline
#
# The browser sees each site at http://localhost:8080/, the address the specs hard-code; each is
# really served on its own free 127.0.0.1 port (see playwright.config.mjs), so 8080 may be busy.
#   reference = the package's public/ + its dist/ on top (what its webpack dev server serves)
#   ours      = the package's public/ + our dist/ on top (hypha-core.mjs, hypha_core_bg.wasm,
#               hypha-core-imjoy.mjs and the app templates, which replace the reference's
#               CDN-loading hypha-app-iframe.html / hypha-app-webworker.js)
# CDNs: the pages and templates load WinBox, three.js, VANTA and hypha-rpc from CDNs, and one spec
# loads imjoy-core's plugin templates from GitHub. By default cdn-mirror.mjs serves those files
# from their npm packages over HTTPS on a loopback port, and Chromium is pointed at it for those
# hosts only (the table it prints at the start; see README.md). Both sites see the same mirror.
# What it does not have (if.imjoy.io, pyodide, the logo) fails quickly for both sites.
# Exit status: 0 when ours passes at least as many tests as the reference and no test
# regressed; 1 otherwise; 2 when the harness itself failed. Cached under $HYPHA_TOOLS_DIR
# (~/.cache/hypha-core-tools): the reference package, the @playwright/test runner and
# cdn-mirror/ (the mirrored npm packages and the mirror's certificate).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT
HERE="$REPO_ROOT/tests/refspecs"
# shellcheck source-path=SCRIPTDIR/../..
# shellcheck source=scripts/lib/deps.sh
source "$REPO_ROOT/scripts/lib/deps.sh"

REF_VERSION=0.20.86
DIST="$REPO_ROOT/dist"
ONLY=""
WORKERS=2
SERIAL=0
KEEP=0
MIRROR=1

usage() { sed -n '5,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --dist) DIST="$2"; shift 2 ;;
    --dist=*) DIST="${1#*=}"; shift ;;
    --only) ONLY="$2"; shift 2 ;;
    --only=*) ONLY="${1#*=}"; shift ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --workers=*) WORKERS="${1#*=}"; shift ;;
    --serial) SERIAL=1; shift ;;
    --keep) KEEP=1; shift ;;
    --no-mirror) MIRROR=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$ONLY" in "" | ours | reference) ;; *) echo "--only takes ours or reference" >&2; exit 2 ;; esac
log() { printf '[refspecs] %s\n' "$*" >&2; }
die() { printf '[refspecs] ERROR: %s\n' "$*" >&2; exit 2; }

ensure_node
ensure_node_modules # bench/browser/lib.mjs (the reference package) imports playwright-core
ensure_chromium

# --- 1. the reference package ------------------------------------------------------------------
# The same cached copy the browser benchmark uses (bench/browser/lib.mjs: npm pack + tar once).
REF_PKG="$(node --input-type=module -e \
  'const { ensureReference } = await import(process.argv[1]); console.log(ensureReference());' \
  "$REPO_ROOT/bench/browser/lib.mjs")" || die "cannot get hypha-core@$REF_VERSION"
[ -d "$REF_PKG/test/integration" ] || die "$REF_PKG/test/integration missing"
for f in public/lite.html dist/hypha-core.mjs; do
  [ -f "$REF_PKG/$f" ] || die "$REF_PKG/$f missing"
done

# --- 2. the test runner, matching our playwright-core ------------------------------------------
PW_VERSION="$(node -p 'require(process.argv[1]).version' "$REPO_ROOT/node_modules/playwright-core/package.json" 2>/dev/null)" ||
  die "no playwright-core in $REPO_ROOT/node_modules (npm ci first)"
RUNNER="$HYPHA_TOOLS_DIR/refspecs-runner-$PW_VERSION"
runner_version() { node -p 'require(process.argv[1]).version' "$RUNNER/node_modules/@playwright/test/package.json" 2>/dev/null || true; }
if [ "$(runner_version)" != "$PW_VERSION" ]; then
  log "npm install @playwright/test@$PW_VERSION into $RUNNER"
  mkdir -p "$RUNNER"
  [ -f "$RUNNER/package.json" ] || printf '{ "name": "refspecs-runner", "private": true }\n' >"$RUNNER/package.json"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$RUNNER" --no-save --no-audit --no-fund \
    --loglevel=error "@playwright/test@$PW_VERSION" >/dev/null || die "npm install @playwright/test@$PW_VERSION failed"
  [ "$(runner_version)" = "$PW_VERSION" ] || die "@playwright/test@$PW_VERSION not found in $RUNNER after install"
fi

# --- 3. work dir: specs, config, the two sites -------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hypha-refspecs.XXXXXX")"
cleanup() {
  local f pid pids=() i k
  # Playwright runs still going (interrupted): SIGINT is the signal it stops on cleanly, taking
  # its web server down with it. Give them a few seconds before removing their work dir.
  for f in "$WORK"/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    if kill -INT "$pid" 2>/dev/null; then pids+=("$pid"); fi
  done
  for ((i = 0; i < 100 && ${#pids[@]} > 0; i++)); do
    for k in "${!pids[@]}"; do kill -0 "${pids[$k]}" 2>/dev/null || unset "pids[$k]"; done
    sleep 0.1
  done
  if [ -n "${MIRROR_PID:-}" ]; then kill "$MIRROR_PID" 2>/dev/null || true; fi
  if [ "$KEEP" -eq 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Our build first: the lead rebuilds dist/ often, so snapshot it before anything slow.
if [ "$ONLY" != reference ]; then
  if [ ! -f "$DIST/hypha-core.mjs" ] || [ ! -f "$DIST/hypha_core_bg.wasm" ]; then
    die "$DIST has no hypha-core.mjs + hypha_core_bg.wasm (npm run build, or pass --dist)"
  fi
  mkdir -p "$WORK/our-dist"
  cp -R "$DIST/." "$WORK/our-dist/"
  log "ours: $DIST ($(cd "$WORK/our-dist" && sha256sum hypha-core.mjs hypha_core_bg.wasm | cut -c1-12 | paste -sd' '))"
fi

mkdir -p "$WORK/test/integration"
cp "$REF_PKG"/test/integration/*.test.js "$WORK/test/integration/"
cp "$HERE/playwright.config.mjs" "$WORK/playwright.config.mjs"
ln -s "$RUNNER/node_modules" "$WORK/node_modules"

if [ "$ONLY" != ours ]; then
  mkdir -p "$WORK/site-reference"
  cp -R "$REF_PKG/public/." "$WORK/site-reference/"
  cp -R "$REF_PKG/dist/." "$WORK/site-reference/"
fi
if [ "$ONLY" != reference ]; then
  mkdir -p "$WORK/site-ours"
  cp -R "$REF_PKG/public/." "$WORK/site-ours/"
  cp -R "$WORK/our-dist/." "$WORK/site-ours/"
fi

# --- 4. the CDN mirror -------------------------------------------------------------------------
MIRROR_PID=""
MIRROR_CACHE="$HYPHA_TOOLS_DIR/cdn-mirror"
if [ "$MIRROR" -eq 1 ]; then
  node "$HERE/cdn-mirror.mjs" prepare --cache "$MIRROR_CACHE" || die "cdn-mirror prepare failed"
  node "$HERE/cdn-mirror.mjs" serve --cache "$MIRROR_CACHE" --host 127.0.0.1 --port 0 \
    >"$WORK/cdn-mirror.out" 2>"$WORK/cdn-mirror.log" &
  MIRROR_PID=$!
  for ((i = 0; i < 100; i++)); do
    grep -q '^SERVING ' "$WORK/cdn-mirror.out" 2>/dev/null && break
    kill -0 "$MIRROR_PID" 2>/dev/null || { cat "$WORK/cdn-mirror.log" >&2; die "cdn-mirror did not start"; }
    sleep 0.1
  done
  MIRROR_PORT="$(sed -n 's/^SERVING https:\/\/[^:]*:\([0-9]*\)$/\1/p' "$WORK/cdn-mirror.out")"
  [ -n "$MIRROR_PORT" ] || die "cdn-mirror did not say its port"
  MIRROR_HOSTS="$(node "$HERE/cdn-mirror.mjs" hosts)"
  export REFSPECS_MIRROR_PORT="$MIRROR_PORT" REFSPECS_MIRROR_HOSTS="$MIRROR_HOSTS"
  log "CDN mirror on 127.0.0.1:$MIRROR_PORT (https, self-signed) for ${MIRROR_HOSTS//,/, }; from npm:"
  node "$HERE/cdn-mirror.mjs" table --cache "$MIRROR_CACHE" | sed 's/^/[refspecs]   /' >&2
  log "not mirrored: if.imjoy.io (fails at DNS); pyodide on cdn.jsdelivr.net and the logo on raw.githubusercontent.com (404 from the mirror)"
else
  log "no CDN mirror (--no-mirror): every CDN request fails at DNS, for both sites"
fi

# --- 5. run the specs against each site --------------------------------------------------------
# Prints N distinct free ports of 127.0.0.1.
free_ports() {
  node -e '
    const net = require("net");
    const servers = Array.from({ length: Number(process.argv[1]) }, () => net.createServer());
    Promise.all(servers.map((s) => new Promise((ok) => s.listen(0, "127.0.0.1", ok)))).then(() => {
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    });' "$1"
}

# Runs Playwright for one site; output in $WORK/<label>.log, report in $WORK/<label>.json.
run_site() {
  local label="$1" port="$2" start=$SECONDS rc=0
  (cd "$WORK" &&
    REFSPECS_SITE="$WORK/site-$label" REFSPECS_PORT="$port" REFSPECS_LABEL="$label" \
      REFSPECS_JSON="$WORK/$label.json" REFSPECS_SERVER="$HERE/serve-site.mjs" REFSPECS_WORKERS="$WORKERS" \
      exec node "$RUNNER/node_modules/@playwright/test/cli.js" test --config "$WORK/playwright.config.mjs" \
      >"$WORK/$label.log" 2>&1) &
  echo "$!" >"$WORK/$label.pid"
  wait "$!" || rc=$?
  rm -f "$WORK/$label.pid"
  log "$label: playwright exited $rc after $((SECONDS - start))s"
}

labels=()
for label in reference ours; do
  if [ -z "$ONLY" ] || [ "$ONLY" = "$label" ]; then labels+=("$label"); fi
done
read -r -a ports <<<"$(free_ports "${#labels[@]}")"
pids=()
for i in "${!labels[@]}"; do
  label="${labels[$i]}" port="${ports[$i]}"
  log "running the specs against $label (127.0.0.1:$port as localhost:8080, workers $WORKERS)"
  if [ "$SERIAL" -eq 1 ]; then
    run_site "$label" "$port"
  else
    run_site "$label" "$port" &
    pids+=("$!")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

compare_args=()
for label in "${labels[@]}"; do
  if [ ! -f "$WORK/$label.json" ]; then
    tail -n 30 "$WORK/$label.log" >&2
    die "$label: no JSON report (output above)"
  fi
  compare_args+=("--$label" "$WORK/$label.json")
done

echo
node "$HERE/compare.mjs" "${compare_args[@]}"
