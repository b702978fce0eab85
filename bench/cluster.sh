#!/usr/bin/env bash
# The cluster benchmark (bench/cluster.py): three hypha-core-servers on one Redis against three
# Python hypha servers on another, same clients. Prints a Markdown table; nothing is asserted.
#
# Usage: bench/cluster.sh [--calls N] [--only ours|python]
# Env: HYPHA_CORE_SERVER_BIN=path (skip cargo build), BENCH_LOGDIR=dir, PYTHON=python3
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
LOGDIR="${BENCH_LOGDIR:-$(mktemp -d /tmp/hypha-cluster-bench.XXXXXX)}"
mkdir -p "$LOGDIR"
say() { echo "[cluster.sh] $*" >&2; }
say "logs in $LOGDIR"

# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
ensure_cluster_tools
# shellcheck source=bench/venvs.sh
source "$ROOT/bench/venvs.sh"
REF_ARGS=()
[[ -f "$REF_VENV/.bench-ok" ]] && REF_ARGS=(--ref-python "$REF_VENV/bin/python")

OURS_BIN="${HYPHA_CORE_SERVER_BIN:-}"
if [[ -z "$OURS_BIN" ]]; then
  say "cargo build --release -p hypha-core-server"
  cargo build --release -p hypha-core-server >"$LOGDIR/cargo-build.log" 2>&1 \
    || { tail -n 15 "$LOGDIR/cargo-build.log" >&2; exit 1; }
  OURS_BIN="$ROOT/target/release/hypha-core-server"
fi

exec "$BENCH_VENV/bin/python" "$ROOT/bench/cluster.py" --ours-bin "$OURS_BIN" \
  "${REF_ARGS[@]}" --logdir "$LOGDIR" "$@"
