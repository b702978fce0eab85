#!/usr/bin/env bash
# Type-checks TypeScript consumers of the packed hypha-core-rs package with `tsc --strict`.
#
#   node scripts/build-js.mjs && npm pack                        # in the repository root
#   tests/consumers/types/check.sh ./hypha-core-rs-0.1.0.tgz
#
# The tarball is installed into a temporary project (its one dependency, ws, from the npm
# registry) together with the consumer files of this directory, and `tsc -p` runs on each
# tsconfig*.json here:
#   tsconfig.json         moduleResolution "bundler", DOM lib: the README examples, the Deno
#                         examples and api-usage.ts (the main API, with @ts-expect-error checks)
#   tsconfig.node16.json  moduleResolution "node16", lib es2022 only, no @types: the package's
#                         types must not need the DOM lib
# Neither sets skipLibCheck, so errors inside the package's .d.ts files count.
#
# TypeScript comes from npm once and is cached in <repo>/.cache/typescript-<version>.
# Environment: TS_VERSION (default 5.9.3), KEEP_TMP=1 keeps the temporary project.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"

if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 path/to/hypha-core-rs-<version>.tgz   (made with npm pack)" >&2
  exit 2
fi
TARBALL="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
TS_VERSION="${TS_VERSION:-5.9.3}"
TS_DIR="$REPO_ROOT/.cache/typescript-$TS_VERSION"
TSC="$TS_DIR/node_modules/.bin/tsc"

log() { printf '[types] %s\n' "$*" >&2; }

# --- TypeScript, cached ------------------------------------------------------------------
if [ ! -x "$TSC" ]; then
  log "installing typescript@$TS_VERSION into $TS_DIR"
  mkdir -p "$REPO_ROOT/.cache"
  staging="$(mktemp -d "$REPO_ROOT/.cache/typescript-$TS_VERSION.partial.XXXXXX")"
  printf '{ "private": true }\n' >"$staging/package.json"
  (cd "$staging" && npm install --no-audit --no-fund --loglevel=error "typescript@$TS_VERSION")
  chmod 755 "$staging" # mktemp made it private; the cache is shared
  # Another run may have finished first: keep its copy.
  if ! mv -T "$staging" "$TS_DIR" 2>/dev/null; then rm -rf "$staging"; fi
  [ -x "$TSC" ] || { log "ERROR: $TSC missing after install"; exit 1; }
fi

# --- the consumer project ----------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hypha-types.XXXXXX")"
if [ "${KEEP_TMP:-0}" = 1 ]; then
  log "keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
printf '{ "name": "hypha-core-rs-types-consumer", "private": true, "type": "module" }\n' >"$WORK/package.json"
(cd "$WORK" && npm install --no-audit --no-fund --no-package-lock --loglevel=error "$TARBALL")
cp "$HERE"/*.ts "$HERE"/tsconfig*.json "$WORK/"

log "tsc $("$TSC" --version), package $(node -p "require('$WORK/node_modules/hypha-core-rs/package.json').version")"
status=0
for config in "$WORK"/tsconfig*.json; do
  name="$(basename "$config")"
  if (cd "$WORK" && "$TSC" -p "$name" --pretty false); then
    log "PASS $name"
  else
    log "FAIL $name"
    status=1
  fi
done
exit "$status"
