#!/usr/bin/env bash
# hypha-rpc's own Python test suite (the PyPI sdist's tests/, unchanged) against hypha-core-server.
# Only tests/__init__.py, tests/conftest.py and tests/example_service_script.py (which the sdist
# omits) are ours (this directory). Tests listed in exclusions.txt are deselected by our
# conftest (exact node ids), each with its reason; any other failure fails the stage.
#
# Usage: tests/rpc-suite/run.sh [pytest args...]   (e.g. -k test_http_rpc)
# Needs: HYPHA_CORE_SERVER_BIN, and the venv from scripts/lib/deps.sh ensure_rpc_suite_venv.
set -Eeuo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="${REPO_ROOT:-$(cd "$HERE/../.." && pwd)}"
VERSION=0.21.47
VENV="$REPO_ROOT/.cache/rpc-suite-venv"
WORK="$REPO_ROOT/.cache/rpc-suite"
SDIST="$WORK/hypha_rpc-$VERSION.tar.gz"
: "${HYPHA_CORE_SERVER_BIN:?set HYPHA_CORE_SERVER_BIN to the hypha-core-server binary}"

mkdir -p "$WORK"
if [ ! -f "$SDIST" ]; then
  "$VENV/bin/python" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
    "hypha-rpc==$VERSION" -d "$WORK"
fi
# A fresh copy of the sdist's tests each run, with our fixture files laid over.
SUITE="$WORK/suite"
rm -rf "$SUITE"
mkdir -p "$SUITE"
tar -xzf "$SDIST" -C "$SUITE" --strip-components=1 "hypha_rpc-$VERSION/tests"
cp "$HERE/__init__.py" "$HERE/conftest.py" "$HERE/example_service_script.py" \
  "$HERE/exclusions.txt" "$SUITE/tests/"

cd "$SUITE"
# The suite's files run in two processes (two cores), each with its own server; a file's tests
# stay in one process because several share module-scoped state.
mapfile -t FILES < <(cd tests && ls test_*.py | sort)
GROUP_A=() GROUP_B=()
for i in "${!FILES[@]}"; do
  f="tests/${FILES[$i]}"
  case "${FILES[$i]}" in
    # The two longest files go to different processes.
    test_websocket_rpc.py) GROUP_A+=("$f") ;;
    test_reconnection_stability.py | test_session_leaks.py | test_memory_gc_validation.py) GROUP_B+=("$f") ;;
    *) if ((i % 2)); then GROUP_A+=("$f"); else GROUP_B+=("$f"); fi ;;
  esac
done
PYTEST=("$VENV/bin/python" -m pytest -p no:cacheprovider -o asyncio_mode=auto
  -o asyncio_default_fixture_loop_scope=function --timeout=120 -q -rfE "$@")
LOG_A="$WORK/group-a.log" LOG_B="$WORK/group-b.log"
"${PYTEST[@]}" "${GROUP_A[@]}" >"$LOG_A" 2>&1 & PID_A=$!
"${PYTEST[@]}" "${GROUP_B[@]}" >"$LOG_B" 2>&1 & PID_B=$!
rc=0
wait "$PID_A" || rc=$?
wait "$PID_B" || rc=$?
cat "$LOG_A" "$LOG_B"
echo "---- hypha-rpc $VERSION suite: group A: $(tail -n1 "$LOG_A")"
echo "---- hypha-rpc $VERSION suite: group B: $(tail -n1 "$LOG_B")"
exit "$rc"
