#!/usr/bin/env bash
# Builds everything and runs Hypha Core:
#   - the native server (hypha-core-server, release build) in the background, and
#   - the browser demo (www/ with dist/, served by scripts/serve.mjs) in the foreground.
# Ctrl-C (or the end of this script for any reason) stops both.
#
# Environment:
#   PORT              demo port (default 8000; 0 picks a free one)
#   SERVER_PORT       native server port (default 9527; 0 picks a free one)
#   HOST              bind address of both (default 127.0.0.1)
#   HYPHA_JWT_SECRET  JWT secret of the native server (set it for tokens that survive a restart)
#   SKIP_BUILD=1      do not build (use what is in dist/ and target/release/)
# Extra arguments are passed to hypha-core-server.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
cd "$REPO_ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$REPO_ROOT/scripts/lib/deps.sh"

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
SERVER_PORT="${SERVER_PORT:-9527}"
SERVER_BIN="$REPO_ROOT/target/release/hypha-core-server"

log() { printf '[run] %s\n' "$*" >&2; }

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  ensure_cargo
  ensure_node_modules
  ensure_wasm_target
  ensure_wasm_bindgen_cli
  ensure_binaryen
  log "building the wasm server (scripts/build-wasm.sh)"
  bash "$REPO_ROOT/scripts/build-wasm.sh"
  log "bundling dist/ (scripts/build-js.mjs)"
  node "$REPO_ROOT/scripts/build-js.mjs"
  log "adding web-python's Pyodide and wheels to dist/ (scripts/build-python.mjs)"
  ensure_python
  node "$REPO_ROOT/scripts/build-python.mjs"
  log "building the native server (cargo build --release -p hypha-core-server)"
  cargo build --release -p hypha-core-server
else
  ensure_node
fi
[ -x "$SERVER_BIN" ] || { log "missing $SERVER_BIN (run without SKIP_BUILD=1)"; exit 1; }
[ -f "$REPO_ROOT/dist/hypha-core.mjs" ] || { log "missing dist/hypha-core.mjs (run without SKIP_BUILD=1)"; exit 1; }

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hypha-run.XXXXXX")"
SERVER_PID=""
DEMO_PID=""
cleanup() {
  local pid
  for pid in "$DEMO_PID" "$SERVER_PID"; do
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$DEMO_PID" "$SERVER_PID"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the native server, in the background; its log goes to our stderr ---------
"$SERVER_BIN" --host "$HOST" --port "$SERVER_PORT" "$@" >"$RUN_DIR/server.out" &
SERVER_PID=$!
SERVER_URL=""
for _ in $(seq 1 100); do
  SERVER_URL="$(sed -n 's/^HYPHA_CORE_SERVER_LISTENING \(.*\)$/\1/p' "$RUN_DIR/server.out" | head -n 1)"
  [ -n "$SERVER_URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { log "hypha-core-server exited (is port $SERVER_PORT in use?)"; exit 1; }
  sleep 0.1
done
[ -n "$SERVER_URL" ] || { log "hypha-core-server did not start within 10 s"; exit 1; }

# --- the demo, in the foreground (a child, so that the trap can stop the server) --
node "$REPO_ROOT/scripts/serve.mjs" --host "$HOST" --port "$PORT" >"$RUN_DIR/demo.out" &
DEMO_PID=$!
DEMO_URL=""
for _ in $(seq 1 100); do
  DEMO_URL="$(sed -n 's/^SERVING \(.*\)$/\1/p' "$RUN_DIR/demo.out" | head -n 1)"
  [ -n "$DEMO_URL" ] && break
  kill -0 "$DEMO_PID" 2>/dev/null || { log "the demo server exited (is port $PORT in use?)"; exit 1; }
  sleep 0.1
done
[ -n "$DEMO_URL" ] || { log "the demo server did not start within 10 s"; exit 1; }

cat <<EOF

  Hypha Core is running.
    demo (HyphaCore in the browser, Rust → WebAssembly):  $DEMO_URL/
    native server (WebSocket at /ws, GET /health):        $SERVER_URL
      e.g. hypha-rpc: connectToServer({server_url: "$SERVER_URL"})

  Ctrl-C stops both.

EOF
# Whichever stops first ends the run (and the trap stops the other).
set +e
wait -n "$DEMO_PID" "$SERVER_PID"
rc=$?
set -e
if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "hypha-core-server stopped"; fi
if ! kill -0 "$DEMO_PID" 2>/dev/null; then log "the demo server stopped"; fi
exit "$rc"
