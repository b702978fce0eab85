# shellcheck shell=bash
# The Python hypha server (PyPI `hypha`, the reference) in $ROOT/.cache/hypha-ref-venv: the same
# venv, the same marker (.bench-ok) and the same two fixes as bench/run.sh, so either benchmark
# reuses what the other installed. Source this file (it defines one function) and call
#
#   ensure_ref_venv LOGDIR   -> 0 and REF_PYTHON=<venv python> when the server starts; 1 otherwise
#
# hypha imports aiobotocore unconditionally (hypha.http), so the s3 extra is needed; and
# sqlmodel >= 0.0.45 rejects the naive datetimes hypha 0.21.137 stores at start-up, so if a smoke
# start fails, sqlmodel==0.0.44 is pinned and the start tried again.
: "${ROOT:?ROOT must be set}"
REF_VENV="$ROOT/.cache/hypha-ref-venv"
# shellcheck disable=SC2034 # both are read by the script that sources this file
REF_PYTHON=""
# shellcheck disable=SC2034
REF_SMOKE_PID="" # the smoke-start server while it runs (for the caller's exit trap)

_ref_smoke() { # LOGDIR: start the server once on a free port, wait for /health/liveness
  local logdir="$1" port pid ok=1
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  (cd "$logdir" && exec "$REF_VENV/bin/python" -m hypha.server --host 127.0.0.1 --port "$port") >"$logdir/ref-smoke.log" 2>&1 &
  pid=$!
  REF_SMOKE_PID=$pid
  for _ in $(seq 1 240); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/health/liveness"; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # shellcheck disable=SC2034
  REF_SMOKE_PID=""
  return $ok
}

ensure_ref_venv() {
  local logdir="$1" py="${PYTHON:-python3}"
  if [[ ! -f "$REF_VENV/.bench-ok" ]]; then
    if ! "$REF_VENV/bin/python" -c 'import hypha.server' 2>/dev/null; then
      echo "[http-bench] creating $REF_VENV (pip install 'hypha[s3]')" >&2
      "$py" -m venv "$REF_VENV" || return 1
      "$REF_VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1
      "$REF_VENV/bin/pip" install -q 'hypha[s3]' || { echo "[http-bench] pip install hypha failed" >&2; return 1; }
    fi
    if _ref_smoke "$logdir"; then
      touch "$REF_VENV/.bench-ok"
    else
      echo "[http-bench] python hypha did not start (see $logdir/ref-smoke.log); pinning sqlmodel==0.0.44" >&2
      if ! { "$REF_VENV/bin/pip" install -q 'sqlmodel==0.0.44' && _ref_smoke "$logdir"; }; then
        echo "[http-bench] python hypha still does not start" >&2
        return 1
      fi
      touch "$REF_VENV/.bench-ok"
    fi
  fi
  # shellcheck disable=SC2034
  REF_PYTHON="$REF_VENV/bin/python"
}
