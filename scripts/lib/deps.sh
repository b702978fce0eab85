# shellcheck shell=bash
# Dependency bootstrap for the test and run scripts.
#
# Source this file (it defines functions only) and call the `ensure_*`
# functions you need. Each one checks first and installs only what is
# missing, so a second run on the same machine is fast. Add new tools
# (wasm-pack, chromium, redis, ...) as further small `ensure_xxx` functions;
# Debian packages go through `apt_install`, which runs `apt-get update` at
# most once per script run and only when something actually has to be
# installed.
#
# Expects REPO_ROOT to be set (defaults to the parent of scripts/).

: "${REPO_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

_DEPS_APT_UPDATED=0

deps_log() { printf '[deps] %s\n' "$*" >&2; }
deps_die() {
  printf '[deps] ERROR: %s\n' "$*" >&2
  return 1
}

_sudo() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    deps_die "need root (or passwordless sudo) to run: $*"
  fi
}

_sha256() { cat "$@" | sha256sum | cut -d' ' -f1; }

# apt_install PKG... : install the Debian packages that are not installed yet.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || deps_die "apt-get not found; please install: ${missing[*]}"
  if [ "$_DEPS_APT_UPDATED" -eq 0 ]; then
    deps_log "apt-get update"
    _sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _DEPS_APT_UPDATED=1
  fi
  deps_log "apt-get install ${missing[*]}"
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Rust -------------------------------------------------------------------

ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || deps_die "cargo not found (install the Rust toolchain with rustup)"
}

# rustup component add rustfmt clippy, only for the missing ones.
ensure_rust_components() {
  ensure_cargo
  local want=("$@") missing=() c installed
  [ "${#want[@]}" -eq 0 ] && want=(rustfmt clippy)
  if ! command -v rustup >/dev/null 2>&1; then
    # No rustup: accept a toolchain that already ships the tools.
    cargo fmt --version >/dev/null 2>&1 || deps_die "rustfmt missing and rustup not available"
    cargo clippy --version >/dev/null 2>&1 || deps_die "clippy missing and rustup not available"
    return 0
  fi
  installed="$(rustup component list --installed 2>/dev/null || true)"
  for c in "${want[@]}"; do
    grep -q "^${c}\b" <<<"$installed" || missing+=("$c")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    deps_log "rustup component add ${missing[*]}"
    rustup component add "${missing[@]}"
  fi
}

# --- Node -------------------------------------------------------------------

ensure_node() {
  local major
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    deps_log "node/npm not found; installing Debian's nodejs + npm"
    apt_install nodejs npm
  fi
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    deps_die "Node >= 20 is required (found $(node --version))"
  fi
}

# npm ci when node_modules is missing or older than package.json/package-lock.json.
ensure_node_modules() {
  ensure_node
  local stamp="$REPO_ROOT/node_modules/.hypha-deps-stamp" want have=""
  if [ -f "$REPO_ROOT/package-lock.json" ]; then
    want="$(_sha256 "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json")"
  else
    want="$(_sha256 "$REPO_ROOT/package.json")"
  fi
  [ -f "$stamp" ] && have="$(cat "$stamp")"
  if [ -d "$REPO_ROOT/node_modules" ] && [ "$want" = "$have" ]; then
    return 0
  fi
  if [ -f "$REPO_ROOT/package-lock.json" ]; then
    deps_log "npm ci"
    (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  else
    deps_log "npm install"
    (cd "$REPO_ROOT" && npm install --no-audit --no-fund --loglevel=error)
    want="$(_sha256 "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json")"
  fi
  printf '%s\n' "$want" >"$stamp"
}

# NODE_OPTIONS flags so that `WebSocket` is a global (built in from Node 22;
# behind --experimental-websocket on Node 20/21), plus silencing the
# experimental warning where node supports that. Prints them (maybe nothing).
node_websocket_flags() {
  local flags=""
  if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
    if node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
      flags="--experimental-websocket"
    else
      deps_die "this Node ($(node --version)) has no WebSocket global; use Node >= 20.10"
      return 1
    fi
  fi
  if node --disable-warning=ExperimentalWarning -e '' 2>/dev/null; then
    flags="${flags:+$flags }--disable-warning=ExperimentalWarning"
  fi
  printf '%s' "$flags"
}

# --- Python -----------------------------------------------------------------

ensure_python() {
  if ! command -v python3 >/dev/null 2>&1; then
    apt_install python3 python3-venv python3-pip
  fi
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
}

# A venv at .venv with tests/e2e/python/requirements.txt installed; pip runs
# only when the requirements (or the interpreter) changed since the last time.
ensure_python_venv() {
  ensure_python
  local venv="$REPO_ROOT/.venv"
  local req="$REPO_ROOT/tests/e2e/python/requirements.txt"
  local stamp="$venv/.hypha-requirements-stamp" want have=""
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    deps_log "creating Python venv at .venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  want="$( (cat "$req"; "$venv/bin/python" --version) | sha256sum | cut -d' ' -f1)"
  [ -f "$stamp" ] && have="$(cat "$stamp")"
  if [ "$want" = "$have" ]; then
    return 0
  fi
  deps_log "pip install -r tests/e2e/python/requirements.txt"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
  printf '%s\n' "$want" >"$stamp"
}

# Everything scripts/test.sh needs.
ensure_test_deps() {
  ensure_rust_components rustfmt clippy
  ensure_node_modules
  ensure_python_venv
}
