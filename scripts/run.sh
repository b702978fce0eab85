#!/usr/bin/env bash
# Builds the native server (release) and runs it in the foreground.
#   PORT        listening port (default 9527)
#   HOST        bind address (default 127.0.0.1)
#   HYPHA_JWT_SECRET  JWT secret (read by the server itself; set it for stable tokens)
# Extra arguments are passed to hypha-core-server.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
cd "$REPO_ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$REPO_ROOT/scripts/lib/deps.sh"

ensure_cargo
cargo build --release -p hypha-core-server

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-9527}"
echo "starting hypha-core-server on http://$HOST:$PORT (Ctrl-C to stop)" >&2
exec "$REPO_ROOT/target/release/hypha-core-server" --host "$HOST" --port "$PORT" "$@"
