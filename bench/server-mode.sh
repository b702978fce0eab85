#!/usr/bin/env bash
# Server-mode benchmark: hypha-core 0.20.86's own test/performance/ scripts (quick-max-test.js,
# single-instance-benchmark.js), unchanged but for their two import lines, run under Deno
#   - against hypha-core 0.20.86 (its src; the scripts byte for byte),
#   - against ours (hypha-core-rs installed from a packed tarball into a temp project),
#   - against ours with the reference's HTTP access (services public, no rate limit: ours-public.mjs),
#   - against a bare Deno.serve handler that only calls the function (bare-server.mjs): the most
#     any server can do in this harness.
# Each script starts its own server in-process on port 9640 and loads it with fetch from the same
# process. The driver asks each server every endpoint once while the script runs and checks the
# answer. Prints Markdown tables (requests/s, latency, answers) and writes
# bench/server-mode-results.json. Nothing is asserted. See bench/README.md ("Server-mode benchmark").
#
# Usage: bench/server-mode.sh [--budget SECONDS] [--targets ref,ours,ours-public,bare]
#                             [--scripts quick-max-test,single-instance-benchmark] [--tarball PATH]
#   --budget S   each script run is stopped S seconds after its server is ready (default 50);
#                the scenarios it had not reached are "not reached". The scripts have no knobs for
#                their request counts, and single-instance-benchmark sends 430,000 requests.
#   --tarball P  the hypha-core-rs package to measure (default: `npm pack` of this checkout's
#                dist/, which must be built: npm run build)
# Env:
#   HYPHA_CORE_RS_TARBALL=path  same as --tarball
#   SERVER_MODE_BUDGET=S        same as --budget
#   DENO_BIN=path               use this deno (default: npm deno@$DENO_VERSION in .cache/deno)
#   DENO_VERSION=2.9.6          the npm `deno` version installed into .cache/deno
#   BENCH_LOGDIR=dir            where the scripts' output and install logs go (default: a temp dir)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT REPO_ROOT="$ROOT"
cd "$ROOT" || exit 2
HERE="$ROOT/bench/server-mode"
CACHE="$ROOT/.cache"
REF_VERSION=0.20.86

BUDGET="${SERVER_MODE_BUDGET:-50}"
TARGETS="ref,ours,ours-public,bare"
SCRIPTS="quick-max-test,single-instance-benchmark"
TARBALL="${HYPHA_CORE_RS_TARBALL:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --budget | --targets | --scripts | --tarball)
      [[ $# -ge 2 ]] || { echo "$1 needs a value" >&2; exit 2; }
      case "$1" in
        --budget) BUDGET="$2" ;;
        --targets) TARGETS="$2" ;;
        --scripts) SCRIPTS="$2" ;;
        --tarball) TARBALL="$2" ;;
      esac
      shift
      ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ",$TARGETS," == *",$1,"* ]]; }

LOGDIR="${BENCH_LOGDIR:-$(mktemp -d /tmp/hypha-server-mode-bench.XXXXXX)}"
mkdir -p "$LOGDIR" "$CACHE/server-mode-bench"
say() { echo "[server-mode-bench] $*" >&2; }
say "logs in $LOGDIR"

DRIVER_PID=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null
    wait "$DRIVER_PID" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
ensure_node || exit 2
ensure_node_modules || exit 2 # hypha-rpc's version, to pin the reference's

# ---- Deno (npm: deno) ------------------------------------------------------------------------
DENO="${DENO_BIN:-$CACHE/deno/node_modules/deno/deno}"
if [[ ! -x "$DENO" ]]; then
  say "npm install deno@${DENO_VERSION:-2.9.6} into $CACHE/deno"
  mkdir -p "$CACHE/deno"
  [[ -f "$CACHE/deno/package.json" ]] || echo '{ "name": "bench-deno", "private": true }' >"$CACHE/deno/package.json"
  (cd "$CACHE/deno" && npm install --no-save --no-audit --no-fund --loglevel=error "deno@${DENO_VERSION:-2.9.6}") >"$LOGDIR/deno-install.log" 2>&1
  if [[ ! -x "$DENO" ]]; then
    for d in "$CACHE"/deno/node_modules/@deno/linux-*/deno; do [[ -x "$d" ]] && DENO="$d" && break; done
  fi
  [[ -x "$DENO" ]] || { tail -n 5 "$LOGDIR/deno-install.log" >&2; say "no deno: nothing to run"; exit 2; }
fi
say "deno: $("$DENO" --version | head -n 1)"

# ---- hypha-core 0.20.86 (npm pack), and a Deno-runnable copy of it ---------------------------
# The package (cached), then a copy of its src/ and deno.json, where hypha-rpc is re-pinned from
# 0.21.9 (not on the npm registry) to the hypha-rpc in our node_modules and the unused jsr:
# import (@std/cli) is dropped, so that Deno fetches only from the npm registry (as
# bench/http.sh does). The two performance scripts go to its test/performance/ unchanged, so
# their own import lines (../../src/...) load this copy's src.
REF_PKG="$CACHE/server-mode-bench/hypha-core-$REF_VERSION/package"
if [[ ! -f "$REF_PKG/test/performance/single-instance-benchmark.js" ]]; then
  say "npm pack hypha-core@$REF_VERSION into $CACHE/server-mode-bench"
  tmp="$(mktemp -d)"
  if (cd "$tmp" && npm pack "hypha-core@$REF_VERSION" --silent) >"$LOGDIR/ref-pack.log" 2>&1; then
    rm -rf "$CACHE/server-mode-bench/hypha-core-$REF_VERSION"
    mkdir -p "$CACHE/server-mode-bench/hypha-core-$REF_VERSION"
    tar xzf "$tmp"/hypha-core-"$REF_VERSION".tgz -C "$CACHE/server-mode-bench/hypha-core-$REF_VERSION"
  fi
  rm -rf "$tmp"
  [[ -f "$REF_PKG/test/performance/single-instance-benchmark.js" ]] || {
    tail -n 5 "$LOGDIR/ref-pack.log" >&2
    say "cannot get hypha-core@$REF_VERSION with npm pack"
    exit 2
  }
fi
RPC_VERSION="$(node -p 'require(process.argv[1]).version' "$ROOT/node_modules/hypha-rpc/package.json")"
REF_DIR="$CACHE/server-mode-bench/ref-deno-$REF_VERSION"
stamp="hypha-rpc@$RPC_VERSION"
if [[ "$(cat "$REF_DIR/.pinned" 2>/dev/null)" != "$stamp" ]]; then
  if ! { rm -rf "$REF_DIR" && mkdir -p "$REF_DIR/test/performance" && cp -r "$REF_PKG/src" "$REF_DIR/" &&
    node -e '
      const fs = require("fs");
      const [src, dst, v] = process.argv.slice(1);
      const j = JSON.parse(fs.readFileSync(src, "utf8"));
      j.imports["hypha-rpc"] = "npm:hypha-rpc@" + v;
      for (const k of Object.keys(j.imports)) if (j.imports[k].startsWith("jsr:")) delete j.imports[k];
      fs.writeFileSync(dst, JSON.stringify(j, null, 2) + "\n");
    ' "$REF_PKG/deno.json" "$REF_DIR/deno.json" "$RPC_VERSION" &&
    echo "$stamp" >"$REF_DIR/.pinned"; }; then
    say "cannot prepare $REF_DIR"
    exit 2
  fi
fi
IFS=',' read -r -a SCRIPT_LIST <<<"$SCRIPTS"
for s in "${SCRIPT_LIST[@]}"; do
  [[ -f "$REF_PKG/test/performance/$s.js" ]] || { say "no test/performance/$s.js in hypha-core@$REF_VERSION"; exit 2; }
  cp "$REF_PKG/test/performance/$s.js" "$REF_DIR/test/performance/$s.js"
done
if want ref; then
  # Deno installs the reference's npm imports into $REF_DIR/node_modules: once, before timing.
  say "deno cache (hypha-core $REF_VERSION's npm imports; log: $LOGDIR/ref-cache.log)"
  (cd "$REF_DIR" && "$DENO" cache --no-lock --config deno.json "test/performance/${SCRIPT_LIST[0]}.js") >"$LOGDIR/ref-cache.log" 2>&1 ||
    { tail -n 5 "$LOGDIR/ref-cache.log" >&2; say "deno cannot load hypha-core $REF_VERSION"; exit 2; }
fi

# ---- ours: the packed package, installed into a temp project ---------------------------------
OURS_DIR="$LOGDIR/ours-project"
if want ours || want ours-public; then
  if [[ -z "$TARBALL" ]]; then
    if [[ ! -f "$ROOT/dist/deno-websocket-server.mjs" || ! -f "$ROOT/dist/hypha_core_server_bg.wasm" ]]; then
      say "dist/ is not built (npm run build), and no --tarball: cannot measure ours"
      exit 2
    fi
    say "npm pack this checkout (dist/ as built)"
    TARBALL="$LOGDIR/$(npm pack --silent --pack-destination "$LOGDIR" 2>>"$LOGDIR/ours-pack.log" | tail -n 1)"
  fi
  [[ -f "$TARBALL" ]] || { say "no tarball at $TARBALL"; exit 2; }
  TARBALL="$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")"
  say "ours: $TARBALL (sha256 $(sha256sum "$TARBALL" | cut -c1-16)…)"
  mkdir -p "$OURS_DIR"
  echo '{ "name": "server-mode-bench-ours", "private": true, "type": "module" }' >"$OURS_DIR/package.json"
  (cd "$OURS_DIR" && npm install --no-save --no-audit --no-fund --loglevel=error "$TARBALL") >"$LOGDIR/ours-install.log" 2>&1 ||
    { tail -n 5 "$LOGDIR/ours-install.log" >&2; say "npm install of the tarball failed"; exit 2; }
  cp "$HERE/ours-public.mjs" "$OURS_DIR/ours-public.mjs"
  for s in "${SCRIPT_LIST[@]}"; do
    node "$HERE/rewrite-imports.mjs" "$REF_PKG/test/performance/$s.js" "$OURS_DIR/$s.js" \
      hypha-core-rs hypha-core-rs/deno-websocket-server || exit 2
    node "$HERE/rewrite-imports.mjs" "$REF_PKG/test/performance/$s.js" "$OURS_DIR/$s.public.js" \
      ./ours-public.mjs hypha-core-rs/deno-websocket-server || exit 2
  done
fi

# ---- bare: the scripts against bare-server.mjs -----------------------------------------------
BARE_DIR="$LOGDIR/bare-project"
if want bare; then
  mkdir -p "$BARE_DIR"
  cp "$HERE/bare-server.mjs" "$BARE_DIR/bare-server.mjs"
  for s in "${SCRIPT_LIST[@]}"; do
    node "$HERE/rewrite-imports.mjs" "$REF_PKG/test/performance/$s.js" "$BARE_DIR/$s.js" \
      ./bare-server.mjs ./bare-server.mjs || exit 2
  done
fi

# ---- run -------------------------------------------------------------------------------------
META="$(node -e 'console.log(JSON.stringify({deno: process.argv[1], tarball: process.argv[2], hypha_rpc_for_reference: process.argv[3], cores: require("os").cpus().length, git: process.argv[4]}))' \
  "$("$DENO" --version | head -n 1)" "${TARBALL:-}" "$RPC_VERSION" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)")"
node "$HERE/run.mjs" --deno "$DENO" --ref-dir "$REF_DIR" --ours-dir "$OURS_DIR" --bare-dir "$BARE_DIR" --targets "$TARGETS" \
  --scripts "$SCRIPTS" --budget "$BUDGET" --logdir "$LOGDIR" --out "$ROOT/bench/server-mode-results.json" --meta "$META" &
DRIVER_PID=$!
wait "$DRIVER_PID"
rc=$?
DRIVER_PID=""
exit $rc
