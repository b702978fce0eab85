# The venvs the benchmarks share (sourced by bench/run.sh and bench/cluster.sh):
#   $BENCH_VENV  the hypha-rpc client and websockets
#   $REF_VENV    the Python hypha server (PyPI `hypha`), marked .bench-ok once it starts
# Expects ROOT, PY, LOGDIR and say() from the caller.
BENCH_VENV="$ROOT/.cache/bench-venv"
REF_VENV="$ROOT/.cache/hypha-ref-venv"

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
