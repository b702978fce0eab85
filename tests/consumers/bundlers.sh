#!/usr/bin/env bash
# Installs a packed hypha-core-rs into fresh projects and checks that it runs the way users load
# it: built with Vite (and served by Vite's dev server), with webpack 5 and with esbuild (the
# `wasm` option), imported by URL from a static server (CDN style), and imported in Node. Each page runs in Chromium: start(), register a
# service and call it, and loadApp of an inline plugin (the parser chunk and its wasm).
#
# Usage: bash tests/consumers/bundlers.sh path/to/hypha-core-rs-X.Y.Z.tgz
#   (npm pack at the repository root, after node scripts/build-js.mjs)
# The build tools are installed once into .cache/consumers-tools (CONSUMERS_TOOLS overrides it);
# KEEP=1 keeps the temporary projects. Exits non-zero when a check fails.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 path/to/hypha-core-rs-X.Y.Z.tgz" >&2
  exit 2
fi
TARBALL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FIXTURES=$HERE/fixtures
TOOLS=${CONSUMERS_TOOLS:-$ROOT/.cache/consumers-tools}
TOOL_SPECS="vite@8.4.0 webpack@5.113.0 webpack-cli@7.3.1 esbuild@0.28.2"
NPM_FLAGS=(--no-audit --no-fund --prefer-offline --loglevel=error)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hypha-consumers.XXXXXX")
RESULTS=$WORK/results.txt
: >"$RESULTS"
VITE_DEV_PID=
cleanup() {
  if [ -n "$VITE_DEV_PID" ]; then kill "$VITE_DEV_PID" 2>/dev/null; fi
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
if [ "${KEEP:-0}" = 1 ]; then echo "# projects kept in $WORK"; fi
START=$SECONDS

record() { echo "$1" | tee -a "$RESULTS"; }

# step NAME COMMAND...: run a command, log to $WORK/NAME.log, record ok / not ok with its tail.
step() {
  local name=$1 log t0
  shift
  log="$WORK/$(echo "$name" | tr ' :/' '___').log"
  t0=$EPOCHREALTIME
  if "$@" >"$log" 2>&1; then
    record "ok - $name ($(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }") s)"
  else
    record "not ok - $name"
    tail -n 15 "$log" | sed 's/^/#   /'
    return 1
  fi
}

install_tools() {
  mkdir -p "$TOOLS"
  if [ "$(cat "$TOOLS/.specs" 2>/dev/null)" = "$TOOL_SPECS" ]; then return 0; fi
  [ -f "$TOOLS/package.json" ] || echo '{ "private": true }' >"$TOOLS/package.json"
  # shellcheck disable=SC2086
  (cd "$TOOLS" && npm install "${NPM_FLAGS[@]}" $TOOL_SPECS) && echo "$TOOL_SPECS" >"$TOOLS/.specs"
}

# project NAME [SUBDIR]: a fresh project from fixtures/NAME with the tarball installed; the shared
# checks.js goes into SUBDIR (default: the project root).
project() {
  local dir=$WORK/$1
  mkdir -p "$dir"
  cp -r "$FIXTURES/$1/." "$dir/"
  cp "$FIXTURES/common/checks.js" "$dir/${2:-.}/checks.js"
  printf '{ "name": "consumer-%s", "private": true, "type": "module" }\n' "$1" >"$dir/package.json"
  (cd "$dir" && npm install "${NPM_FLAGS[@]}" --no-package-lock "$TARBALL")
}

# templates DIR: the app templates (and the hypha-rpc build they load) next to a bundled page.
templates() {
  local dist=$2/node_modules/hypha-core-rs/dist
  mkdir -p "$1"
  cp "$dist/hypha-app-webworker.js" "$dist/hypha-app-iframe.html" "$dist/hypha-rpc-websocket.min.js" "$1/"
}

vite_build() {
  templates "$WORK/vite/public" "$WORK/vite"
  (cd "$WORK/vite" && node "$TOOLS/node_modules/vite/bin/vite.js" build)
}

# vite_dev: Vite's dev server for the same project (dependencies pre-bundled, no build), on a
# free port of 127.0.0.1; its URL in $VITE_DEV_URL once it answers.
vite_dev() {
  local port i
  port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
  (cd "$WORK/vite" && exec node "$TOOLS/node_modules/vite/bin/vite.js" --host 127.0.0.1 --port "$port" --strictPort) \
    >"$WORK/vite-dev-server.log" 2>&1 &
  VITE_DEV_PID=$!
  VITE_DEV_URL=http://127.0.0.1:$port/
  for i in $(seq 1 100); do
    if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$VITE_DEV_URL"; then
      return 0
    fi
    kill -0 "$VITE_DEV_PID" 2>/dev/null || break
    sleep 0.2
  done
  cat "$WORK/vite-dev-server.log"
  return 1
}

webpack_build() {
  (cd "$WORK/webpack" && node "$TOOLS/node_modules/webpack-cli/bin/cli.js" --config webpack.config.cjs) || return 1
  cp "$WORK/webpack/index.html" "$WORK/webpack/dist/"
  templates "$WORK/webpack/dist" "$WORK/webpack"
}

esbuild_build() {
  local p=$WORK/esbuild out=$WORK/esbuild/dist
  mkdir -p "$out/static"
  (cd "$p" && "$TOOLS/node_modules/.bin/esbuild" main.js --bundle --format=esm --outfile=dist/app.js --log-level=warning) || return 1
  cp "$p/index.html" "$out/"
  cp "$p/node_modules/hypha-core-rs/dist/hypha_core_bg.wasm" "$out/static/"
  cp "$p/node_modules/hypha-core-rs/dist/hypha_core_plugin_bg.wasm" "$out/"
  templates "$out" "$p"
}

echo "# hypha-core-rs consumers: $(basename "$TARBALL")"
step "tools (vite, webpack, esbuild)" install_tools || { echo "# cannot install the build tools"; exit 1; }

PAGES=()
step "cdn: install" project cdn && PAGES+=("cdn=$WORK/cdn")
if step "vite: install" project vite && step "vite: build" vite_build; then
  PAGES+=("vite=$WORK/vite/dist")
  if step "vite dev: start the dev server" vite_dev; then PAGES+=("vite dev=$VITE_DEV_URL"); fi
fi
if step "webpack: install" project webpack src && step "webpack: build" webpack_build; then
  PAGES+=("webpack=$WORK/webpack/dist")
fi
if step "esbuild: install" project esbuild && step "esbuild: build" esbuild_build; then
  PAGES+=("esbuild=$WORK/esbuild/dist")
fi
# A checker that exits non-zero must leave a failure behind, even if it crashed before printing one.
checked() {
  local name=$1 before
  shift
  before=$(grep -c '^not ok ' "$RESULTS")
  "$@" 2>&1 | tee -a "$RESULTS"
  if [ "${PIPESTATUS[0]}" -ne 0 ] && [ "$(grep -c '^not ok ' "$RESULTS")" -eq "$before" ]; then
    record "not ok - $name: exited with an error"
  fi
}
if [ ${#PAGES[@]} -gt 0 ]; then
  checked "pages" node "$HERE/check-pages.mjs" "${PAGES[@]}"
fi
if step "node: install" project node; then
  checked "node" bash -c 'cd "$1" && timeout 60 node check.mjs' _ "$WORK/node"
fi

PASS=$(grep -c '^ok ' "$RESULTS")
FAIL=$(grep -c '^not ok ' "$RESULTS")
echo "# pass $PASS"
echo "# fail $FAIL"
echo "# $(( SECONDS - START )) s"
[ "$FAIL" -eq 0 ]
