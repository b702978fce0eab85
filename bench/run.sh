#!/usr/bin/env bash
# Echo benchmark: ours (hypha-core-server) vs the Python hypha server vs a raw
# WebSocket relay, all driven by the same Python hypha-rpc client.
# Prints a Markdown table and writes bench/results.json. Nothing is asserted.
#
# Usage: bench/run.sh [--quick]
# Env:
#   HYPHA_CORE_SERVER_BIN=path  use this binary for "ours" (skips cargo build)
#   BENCH_SKIP_BUILD=1          don't run cargo; use target/release binary if present
#   BENCH_QUICK=1               same as --quick (reduced counts, for smoke tests)
#   BENCH_LOGDIR=dir            where server / build logs go (default: a new temp dir)
#   BENCH_PY_NODEFLATE=0        drop the extra column "python hypha, client deflate
#                               off" (on by default: ours negotiates no deflate,
#                               so that column is the like-for-like comparison)
#   PYTHON=python3              interpreter used to create the venvs
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
LOGDIR="${BENCH_LOGDIR:-$(mktemp -d /tmp/hypha-bench.XXXXXX)}"
mkdir -p "$LOGDIR"
EXTRA=()
if [[ "${1:-}" == "--quick" || "${BENCH_QUICK:-0}" == "1" ]]; then EXTRA=(--quick); fi
[[ "${BENCH_PY_NODEFLATE:-1}" != "0" ]] && EXTRA+=(--python-nodeflate)

say() { echo "[run.sh] $*" >&2; }

# shellcheck source=bench/venvs.sh
source "$ROOT/bench/venvs.sh"
REF_ARGS=()
[[ -f "$REF_VENV/.bench-ok" ]] && REF_ARGS=(--ref-python "$REF_VENV/bin/python")

# ---- our server ------------------------------------------------------------
OURS_BIN=""
OURS_NA="n/a (binary not built)"
if [[ -n "${HYPHA_CORE_SERVER_BIN:-}" ]]; then
  OURS_BIN="$HYPHA_CORE_SERVER_BIN"
elif [[ "${BENCH_SKIP_BUILD:-0}" == "1" ]]; then
  [[ -x target/release/hypha-core-server ]] && OURS_BIN="$ROOT/target/release/hypha-core-server"
else
  say "cargo build --release -p hypha-core-server (log: $LOGDIR/cargo-build.log)"
  if cargo build --release -p hypha-core-server >"$LOGDIR/cargo-build.log" 2>&1 \
     && [[ -x target/release/hypha-core-server ]]; then
    OURS_BIN="$ROOT/target/release/hypha-core-server"
  else
    say "build failed; last lines:"; tail -n 15 "$LOGDIR/cargo-build.log" >&2
  fi
fi

# ---- run ---------------------------------------------------------------------
exec "$BENCH_VENV/bin/python" "$ROOT/bench/hypha_bench.py" run \
  --ours-bin "$OURS_BIN" --ours-na "$OURS_NA" "${REF_ARGS[@]}" \
  --out "$ROOT/bench/results.json" --logdir "$LOGDIR" "${EXTRA[@]}"
