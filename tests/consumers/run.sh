#!/usr/bin/env bash
# The package as its users consume it: packs it (npm pack; dist/ must be built), then, each in
# fresh projects that install the tarball,
#   types        tsc --strict on TypeScript consumers (types/check.sh)
#   bundlers     Vite, webpack, esbuild, a static page and Node, pages run in Chromium (bundlers.sh)
#   server-mode  the seed README's server-mode example under Node and Deno, driven by hypha-rpc's
#                JS client (node --test) and the PyPI client and plain HTTP (pytest)
#   deno-tests   hypha-core 0.20.86's own test/deno/ tests, imports changed only, under Deno, against
#                the list of expectations we invert on purpose (deno-tests/run.sh)
# Usage: tests/consumers/run.sh [PART...]   (default: all parts). Needs DENO_BIN for Deno (the
# test command sets it), the repo's node_modules and .venv.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PARTS=("$@")
[ "${#PARTS[@]}" -gt 0 ] || PARTS=(types bundlers server-mode deno-tests)
want() { case " ${PARTS[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hypha-consumers-run.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
[ -f "$ROOT/dist/deno-websocket-server.mjs" ] || { echo "dist/ is not built (node scripts/build-js.mjs)" >&2; exit 1; }
(cd "$ROOT" && npm pack --silent --pack-destination "$WORK" >/dev/null) || exit 1
TARBALL="$(ls "$WORK"/hypha-core-rs-*.tgz)"
echo "# packed $(basename "$TARBALL"): $(tar -tzf "$TARBALL" | wc -l) files, $(wc -c <"$TARBALL") bytes"

failed=()
part() { # part NAME COMMAND...
  local name=$1
  shift
  echo "## $name"
  "$@" || failed+=("$name")
}

if want types; then part types bash "$HERE/types/check.sh" "$TARBALL"; fi
if want bundlers; then part bundlers bash "$HERE/bundlers.sh" "$TARBALL"; fi
if want server-mode; then
  project="$WORK/server-mode"
  mkdir -p "$project"
  printf '{ "name": "server-mode-consumer", "private": true, "type": "module" }\n' >"$project/package.json"
  (cd "$project" && npm install --no-audit --no-fund --no-package-lock --loglevel=error "$TARBALL") || failed+=(server-mode-install)
  export SERVER_MODE_PROJECT="$project"
  [ -n "${DENO_BIN:-}" ] || echo "# DENO_BIN not set: server mode is tested under Node only"
  ws_flag="$(REPO_ROOT="$ROOT" bash -c 'source "$REPO_ROOT/scripts/lib/deps.sh"; node_websocket_flags')"
  part server-mode-js env NODE_OPTIONS="${NODE_OPTIONS:-} $ws_flag" node --test --test-reporter=tap "$HERE/server-mode/server-mode.test.mjs"
  part server-mode-python "$ROOT/.venv/bin/python" -m pytest "$HERE/server-mode" -q -p no:cacheprovider
fi

if want deno-tests; then
  if [ -n "${DENO_BIN:-}" ]; then
    part deno-tests bash "$HERE/deno-tests/run.sh" "$TARBALL"
  else
    echo "## deno-tests: skipped (DENO_BIN not set)"
  fi
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "# consumers: FAILED ${failed[*]}"
  exit 1
fi
echo "# consumers: all parts passed (${PARTS[*]})"
