#!/usr/bin/env bash
# Runs every test of the project, in order, stopping at the first failure:
#   1. lint     dependencies, cargo fmt --check, cargo clippy -D warnings
#   2. unit     cargo test --workspace
#   3. build    cargo build -p hypha-core-server (debug)
#   4. wasm     the wasm bridge in headless Chromium (wasm-pack test, tests/web.rs)
#   5. js       build dist/ (wasm + JS facade) and test the HyphaCore facade (node --test js/test)
#   6. browser  the demo and HyphaCore in Chromium via playwright-core (node --test tests/e2e/browser/)
#   7. node     end-to-end tests with the npm hypha-rpc client (node --test)
#   8. refspecs hypha-core@0.20.86's own Playwright specs, against its bundle and ours (offline):
#               ours must pass at least as many, and every one the reference passes
#   9. fuzz     a smoke run of every cargo-fuzz target (scripts/fuzz.sh, FUZZ_SECONDS each, default 10)
#  10. consumers the packed package in fresh projects: tsc --strict, Vite/webpack/esbuild/static/Node
#               pages in Chromium, server mode under Node and Deno (tests/consumers/run.sh)
#  11. rpc-suite the hypha-rpc clients' own tests against our server, minus the documented
#               exclusions: Python 0.21.47's (its PyPI sdist, tests/rpc-suite/run.sh) and the JS
#               client's in Chromium (tests/rpc-suite-js/run.mjs)
#  12. python   end-to-end tests with the PyPI hypha-rpc client (pytest)
#
# Usage: scripts/test.sh [STAGE...]   (default: all stages; e.g. `scripts/test.sh build node`)
set -Eeuo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
cd "$REPO_ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$REPO_ROOT/scripts/lib/deps.sh"

ALL_STAGES=(lint unit build wasm js browser node refspecs fuzz consumers rpc-suite python)
if [ "$#" -gt 0 ]; then
  STAGES=("$@")
  for s in "${STAGES[@]}"; do
    case " ${ALL_STAGES[*]} " in *" $s "*) ;; *)
      echo "unknown stage '$s' (stages: ${ALL_STAGES[*]})" >&2
      exit 2
      ;;
    esac
  done
else
  STAGES=("${ALL_STAGES[@]}")
fi
want() { case " ${STAGES[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# The e2e suites always test the binary built here, never an external server.
unset HYPHA_TEST_SERVER_URL HYPHA_TEST_JWT_SECRET

# Every server a test spawns records its pid here; whatever is still alive when
# this script exits (normally, on failure or on a signal) is killed.
HYPHA_TEST_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hypha-test-run.XXXXXX")"
export HYPHA_TEST_RUN_DIR
cleanup() {
  local f pid
  for f in "$HYPHA_TEST_RUN_DIR"/server-*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null || true)"
    if [ -n "$pid" ] && grep -qa hypha "/proc/$pid/cmdline" 2>/dev/null; then
      echo "[test.sh] killing leftover test server pid $pid" >&2
      kill -TERM "$pid" 2>/dev/null || true
      sleep 0.5
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$HYPHA_TEST_RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# dist/: the wasm, the JS bundle and web-python's Pyodide and wheels. The browser tests check a
# requirement shipped as an extra wheel (`--add`), so the test build ships `six` too.
build_dist() {
  ensure_python
  bash scripts/build-wasm.sh
  node scripts/build-js.mjs
  node scripts/build-python.mjs --add six==1.17.0
}

START_ALL=$SECONDS
STAGE_START=$SECONDS
STAGE_NAME=""
banner() {
  STAGE_NAME="$1"
  STAGE_START=$SECONDS
  printf '\n========== [%s] %s ==========\n' "$1" "$2"
}
done_stage() {
  printf -- '---------- [%s] ok (%ss) ----------\n' "$STAGE_NAME" "$((SECONDS - STAGE_START))"
}
on_err() {
  local rc=$?
  printf '\n!!!!!!!!!! stage [%s] FAILED (exit %s) after %ss !!!!!!!!!!\n' \
    "${STAGE_NAME:-setup}" "$rc" "$((SECONDS - STAGE_START))" >&2
}
trap on_err ERR

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if want lint; then
  banner lint "1/12 dependencies, cargo fmt --check, cargo clippy"
  ensure_rust_components rustfmt clippy
  if want node || want js || want browser; then ensure_node_modules; fi
  if want python; then ensure_python_venv && ensure_cluster_tools; fi
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets -- -D warnings
  # The browser bridge only compiles for wasm32.
  ensure_wasm_target
  # The wasm modules: the in-tab server (default feature), the plugin parser, server mode.
  cargo clippy --target wasm32-unknown-unknown --lib --test web --features plugin-bridge -- -D warnings
  cargo clippy --target wasm32-unknown-unknown --lib --no-default-features --features plugin-bridge -- -D warnings
  # The server-mode module (hypha-core-rs/deno-websocket-server): the server with the HTTP API.
  cargo clippy --target wasm32-unknown-unknown --lib --features http -- -D warnings
  done_stage
else
  # Still make sure the tools the selected stages use are there.
  ensure_cargo
  if want node; then ensure_node_modules; fi
  if want python; then ensure_python_venv && ensure_cluster_tools; fi
fi

if want unit; then
  banner unit "2/12 cargo test --workspace"
  cargo test --workspace
  done_stage
fi

if want build || want node || want python || want rpc-suite; then
  banner build "3/12 cargo build -p hypha-core-server"
  cargo build -p hypha-core-server
  HYPHA_CORE_SERVER_BIN="$REPO_ROOT/target/debug/hypha-core-server"
  [ -x "$HYPHA_CORE_SERVER_BIN" ] || { echo "missing $HYPHA_CORE_SERVER_BIN" >&2; false; }
  export HYPHA_CORE_SERVER_BIN
  echo "HYPHA_CORE_SERVER_BIN=$HYPHA_CORE_SERVER_BIN"
  done_stage
fi

if want wasm; then
  banner wasm "4/12 wasm-pack test --headless --chrome (tests/web.rs)"
  ensure_wasm_target
  ensure_wasm_pack
  ensure_wasm_bindgen_cli
  ensure_chromium
  CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" wasm-pack test --headless --chrome -- --test web --features plugin-bridge
  done_stage
fi

if want js; then
  banner js "5/12 build dist/ and node --test js/test/"
  ensure_node_modules
  ensure_chromium
  build_dist
  node --test --test-reporter=tap js/test/
  done_stage
fi

if want browser; then
  banner browser "6/12 browser end-to-end tests (playwright-core + Chromium, node --test tests/e2e/browser/)"
  ensure_playwright_core
  if ! want js; then build_dist; fi
  node --test --test-reporter=tap tests/e2e/browser/
  done_stage
fi

if want node; then
  banner node "7/12 node --test tests/e2e/node/"
  ws_flag="$(node_websocket_flags)"
  # TAP reporter: ends with the '# pass N' / '# fail N' summary lines.
  NODE_OPTIONS="${NODE_OPTIONS:-} ${ws_flag}" \
    node --test --test-reporter=tap tests/e2e/node/
  done_stage
fi

if want refspecs; then
  banner refspecs "8/12 hypha-core's own integration specs: reference bundle vs ours (tests/refspecs/run.sh)"
  if ! want js && ! want browser; then build_dist; fi
  bash tests/refspecs/run.sh
  done_stage
fi

if want fuzz; then
  banner fuzz "9/12 cargo-fuzz smoke run of each target (scripts/fuzz.sh ${FUZZ_SECONDS:-10})"
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
  done_stage
fi

if want consumers; then
  banner consumers "10/12 the packed package in fresh projects (tests/consumers/run.sh)"
  ensure_playwright_core
  ensure_python_venv
  ensure_deno
  if ! want js && ! want browser && ! want refspecs; then build_dist; fi
  bash tests/consumers/run.sh
  done_stage
fi

if want rpc-suite; then
  banner rpc-suite "11/12 the hypha-rpc clients' own test suites against our server (tests/rpc-suite/, tests/rpc-suite-js/)"
  ensure_rpc_suite_venv
  ensure_playwright_core
  ensure_chromium
  bash tests/rpc-suite/run.sh
  # The JS client's own suite (its test build inside the npm package), in headless Chromium.
  node tests/rpc-suite-js/run.mjs
  done_stage
fi

if want python; then
  banner python "12/12 pytest tests/e2e/python (elapsed so far: $((SECONDS - START_ALL))s)"
  # Last stage: pytest's own summary line is the last line of the output.
  # Its exit code is ours, so exit 5 (no tests collected) fails the run too.
  trap - ERR
  rc=0
  "$REPO_ROOT/.venv/bin/python" -m pytest tests/e2e/python -q -p no:cacheprovider || rc=$?
  [ "$rc" -ne 5 ] || echo "pytest exit 5: no tests were collected" >&2
  exit "$rc"
fi

echo "all selected stages passed in $((SECONDS - START_ALL))s"
