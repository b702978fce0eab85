#!/usr/bin/env bash
# HTTP service API benchmark: GET multiply and a 100 KiB POST echo through
#   ours (hypha-core-server), the Python hypha server (PyPI `hypha`) and hypha-core 0.20.86's
#   Deno server, plus GET /health on ours as the floor,
# at 1, 32 and 256 connections, all loaded by the same tool (oha, from crates.io).
# Prints a Markdown table and writes bench/http-results.json. Nothing is asserted.
# See bench/README.md ("HTTP service API").
#
# Usage: bench/http.sh [--quick] [--only ours,python,deno,floor]
# Env:
#   HYPHA_CORE_SERVER_BIN=path  use this binary for "ours" (skips cargo build)
#   BENCH_SKIP_BUILD=1          no cargo build; use target/release/hypha-core-server if present
#   BENCH_QUICK=1               same as --quick
#   BENCH_LOGDIR=dir            where server, provider and build logs go (default: a new temp dir)
#   OHA_BIN=path                use this oha (default: cargo install into .cache/cargo-bin)
#   DENO_BIN=path               use this deno (default: npm deno@$DENO_VERSION in .cache/deno)
#   DENO_VERSION=2.9.6          the npm `deno` version installed into .cache/deno
#   HYPHA_CORE_REF_DIR=dir      an unpacked hypha-core@0.20.86 package (default: the cache that
#                               bench/browser/lib.mjs's ensureReference fills with npm pack)
#   PYTHON=python3              interpreter used to create the Python hypha venv
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT REPO_ROOT="$ROOT"
cd "$ROOT" || exit 2
HERE="$ROOT/bench/http"
CACHE="$ROOT/.cache"

ARGS=()
ONLY="ours,python,deno,floor"
[[ "${BENCH_QUICK:-0}" == "1" ]] && ARGS+=(--quick)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) ARGS+=(--quick) ;;
    --only) [[ $# -ge 2 ]] || { echo "--only needs a value" >&2; exit 2; }; ONLY="$2"; ARGS+=(--only "$2"); shift ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ",$ONLY," == *",$1,"* ]]; } # is this target to be measured?

LOGDIR="${BENCH_LOGDIR:-$(mktemp -d /tmp/hypha-http-bench.XXXXXX)}"
mkdir -p "$LOGDIR" "$CACHE"

say() { echo "[http-bench] $*" >&2; }

# Everything this script starts is ended on exit: the driver (which ends its servers, providers
# and oha runs itself, and is killed here if it is still running) and the smoke-start server.
DRIVER_PID=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [[ -n "${REF_SMOKE_PID:-}" ]]; then kill "$REF_SMOKE_PID" 2>/dev/null; fi
  if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null
    wait "$DRIVER_PID" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
# shellcheck source=bench/http/ref-venv.sh
source "$HERE/ref-venv.sh"

ensure_node || exit 2
ensure_node_modules || exit 2 # hypha-rpc and ws for the provider, playwright-core for lib.mjs

# ---- oha (crates.io) -------------------------------------------------------------------------
OHA="${OHA_BIN:-$CACHE/cargo-bin/bin/oha}"
if [[ ! -x "$OHA" ]]; then
  say "cargo install oha into $CACHE/cargo-bin (log: $LOGDIR/oha-install.log; a few minutes, once)"
  if ! _cargo_install oha --root "$CACHE/cargo-bin" >"$LOGDIR/oha-install.log" 2>&1; then
    tail -n 15 "$LOGDIR/oha-install.log" >&2
    say "no oha: cannot measure anything"
    exit 2
  fi
fi

# ---- ours ------------------------------------------------------------------------------------
DRIVER_ARGS=(--oha "$OHA" --logdir "$LOGDIR" --out "$ROOT/bench/http-results.json")
if ! want ours && ! want floor; then
  : # not measured
elif [[ -n "${HYPHA_CORE_SERVER_BIN:-}" ]]; then
  DRIVER_ARGS+=(--ours-bin "$HYPHA_CORE_SERVER_BIN")
elif [[ "${BENCH_SKIP_BUILD:-0}" == "1" ]]; then
  if [[ -x target/release/hypha-core-server ]]; then
    DRIVER_ARGS+=(--ours-bin "$ROOT/target/release/hypha-core-server")
  else
    DRIVER_ARGS+=(--ours-na "n/a (BENCH_SKIP_BUILD=1 and no target/release/hypha-core-server)")
  fi
else
  say "cargo build --release -p hypha-core-server (log: $LOGDIR/cargo-build.log)"
  if cargo build --release -p hypha-core-server >"$LOGDIR/cargo-build.log" 2>&1 &&
    [[ -x target/release/hypha-core-server ]]; then
    DRIVER_ARGS+=(--ours-bin "$ROOT/target/release/hypha-core-server")
  else
    say "build failed; last lines:"
    tail -n 15 "$LOGDIR/cargo-build.log" >&2
    DRIVER_ARGS+=(--ours-na "n/a (build failed)")
  fi
fi

# ---- the Python hypha server (PyPI) ----------------------------------------------------------
if ! want python; then
  : # not measured
elif ensure_ref_venv "$LOGDIR"; then
  DRIVER_ARGS+=(--ref-python "$REF_PYTHON")
else
  DRIVER_ARGS+=(--python-na "n/a (python hypha not installed or does not start; see $LOGDIR)")
fi

# ---- hypha-core 0.20.86 on Deno (npm: hypha-core, deno) --------------------------------------
# The package (npm pack, cached by bench/browser/lib.mjs's ensureReference), and a copy of its
# src/ with its deno.json, where hypha-rpc is re-pinned from 0.21.9 (not on the npm registry
# here) to the hypha-rpc in our node_modules, and the unused jsr: import (@std/cli) is dropped,
# so that Deno fetches only from the npm registry. Deno installs the npm imports into the copy's
# node_modules on its first start.
deno_na=""
want deno || deno_na="not measured"
DENO="${DENO_BIN:-$CACHE/deno/node_modules/deno/deno}"
if [[ -z "$deno_na" && ! -x "$DENO" ]]; then
  say "npm install deno@${DENO_VERSION:-2.9.6} into $CACHE/deno"
  mkdir -p "$CACHE/deno"
  [[ -f "$CACHE/deno/package.json" ]] || echo '{ "name": "bench-deno", "private": true }' >"$CACHE/deno/package.json"
  (cd "$CACHE/deno" && npm install --no-save --no-audit --no-fund --loglevel=error "deno@${DENO_VERSION:-2.9.6}") >"$LOGDIR/deno-install.log" 2>&1
  # the package's postinstall normally links the binary; npm may skip install scripts
  if [[ ! -x "$DENO" ]]; then
    for d in "$CACHE"/deno/node_modules/@deno/linux-*/deno; do [[ -x "$d" ]] && DENO="$d" && break; done
  fi
  [[ -x "$DENO" ]] || { tail -n 5 "$LOGDIR/deno-install.log" >&2; deno_na="n/a (npm install deno failed)"; }
fi
REF_PKG=""
if [[ -z "$deno_na" ]]; then
  REF_PKG="$(node --input-type=module -e \
    'const { ensureReference } = await import(process.argv[1]); console.log(ensureReference());' \
    "$ROOT/bench/browser/lib.mjs")" || deno_na="n/a (cannot get hypha-core@0.20.86 with npm pack)"
fi
if [[ -z "$deno_na" ]]; then
  RPC_VERSION="$(node -p 'require(process.argv[1]).version' "$ROOT/node_modules/hypha-rpc/package.json")"
  DENO_PKG="$CACHE/hypha-core-deno-0.20.86"
  stamp="hypha-rpc@$RPC_VERSION"
  if [[ "$(cat "$DENO_PKG/.pinned" 2>/dev/null)" != "$stamp" ]]; then
    rm -rf "$DENO_PKG" && mkdir -p "$DENO_PKG" && cp -r "$REF_PKG/src" "$DENO_PKG/" &&
      node -e '
        const fs = require("fs");
        const [src, dst, v] = process.argv.slice(1);
        const j = JSON.parse(fs.readFileSync(src, "utf8"));
        j.imports["hypha-rpc"] = "npm:hypha-rpc@" + v;
        for (const k of Object.keys(j.imports)) if (j.imports[k].startsWith("jsr:")) delete j.imports[k];
        fs.writeFileSync(dst, JSON.stringify(j, null, 2) + "\n");
      ' "$REF_PKG/deno.json" "$DENO_PKG/deno.json" "$RPC_VERSION" &&
      echo "$stamp" >"$DENO_PKG/.pinned" || deno_na="n/a (cannot prepare $DENO_PKG)"
  fi
fi
if [[ -z "$deno_na" ]]; then
  DRIVER_ARGS+=(--deno "$DENO" --deno-pkg "$DENO_PKG")
elif want deno; then
  DRIVER_ARGS+=(--deno-na "$deno_na")
fi

# ---- run -------------------------------------------------------------------------------------
node "$HERE/run.mjs" "${DRIVER_ARGS[@]}" "${ARGS[@]}" &
DRIVER_PID=$!
wait "$DRIVER_PID"
rc=$?
DRIVER_PID=""
exit $rc
