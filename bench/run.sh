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
BENCH_VENV="$ROOT/.cache/bench-venv"
REF_VENV="$ROOT/.cache/hypha-ref-venv"
LOGDIR="${BENCH_LOGDIR:-$(mktemp -d /tmp/hypha-bench.XXXXXX)}"
mkdir -p "$LOGDIR"
EXTRA=()
if [[ "${1:-}" == "--quick" || "${BENCH_QUICK:-0}" == "1" ]]; then EXTRA=(--quick); fi
[[ "${BENCH_PY_NODEFLATE:-1}" != "0" ]] && EXTRA+=(--python-nodeflate)

say() { echo "[run.sh] $*" >&2; }

# ---- client / relay venv ---------------------------------------------------
if ! "$BENCH_VENV/bin/python" -c 'import hypha_rpc, websockets' 2>/dev/null; then
  say "creating $BENCH_VENV (hypha-rpc, websockets)"
  "$PY" -m venv "$BENCH_VENV" || { say "venv creation failed"; exit 1; }
  "$BENCH_VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1
  "$BENCH_VENV/bin/pip" install -q 'hypha-rpc>=0.21.47' 'websockets>=14' \
    || { say "pip install into $BENCH_VENV failed"; exit 1; }
fi

# ---- reference Python hypha server venv -------------------------------------
# hypha imports aiobotocore unconditionally (hypha.http), so the s3 extra is
# needed; and sqlmodel >= 0.0.45 rejects the naive datetimes hypha stores at
# start-up, so if the server does not come up we pin sqlmodel==0.0.44.
ref_smoke() {
  local port log pid ok=1
  port=$("$BENCH_VENV/bin/python" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  log="$LOGDIR/ref-smoke.log"
  (cd "$LOGDIR" && exec "$REF_VENV/bin/python" -m hypha.server --host 127.0.0.1 --port "$port") >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/health/liveness"; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  return $ok
}
if [[ ! -f "$REF_VENV/.bench-ok" ]]; then
  if ! "$REF_VENV/bin/python" -c 'import hypha.server' 2>/dev/null; then
    say "creating $REF_VENV (pip install hypha)"
    "$PY" -m venv "$REF_VENV" || { say "venv creation failed"; }
    "$REF_VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1
    "$REF_VENV/bin/pip" install -q 'hypha[s3]' || say "pip install hypha failed"
  fi
  if ref_smoke; then
    touch "$REF_VENV/.bench-ok"
  else
    say "python hypha did not start (see $LOGDIR/ref-smoke.log); pinning sqlmodel==0.0.44"
    "$REF_VENV/bin/pip" install -q 'sqlmodel==0.0.44' && ref_smoke && touch "$REF_VENV/.bench-ok" \
      || say "python hypha still does not start; its column will show n/a"
  fi
fi
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
