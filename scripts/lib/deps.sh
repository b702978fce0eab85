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
  # scripts/build-python.mjs fetches web-python's wheels with `python3 -m pip download`.
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
}

# A venv at $1 (relative to the repository) with the requirements file $2 installed; pip runs
# only when the requirements (or the interpreter) changed since the last time.
_ensure_venv() {
  ensure_python
  local venv="$REPO_ROOT/$1" req="$REPO_ROOT/$2"
  local stamp="$venv/.hypha-requirements-stamp" want have=""
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    deps_log "creating Python venv at $1"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
  fi
  want="$( (cat "$req"; "$venv/bin/python" --version) | sha256sum | cut -d' ' -f1)"
  [ -f "$stamp" ] && have="$(cat "$stamp")"
  if [ "$want" = "$have" ]; then
    return 0
  fi
  deps_log "pip install -r $2"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
  printf '%s\n' "$want" >"$stamp"
}

# The e2e tests' venv (.venv).
ensure_python_venv() {
  _ensure_venv .venv tests/e2e/python/requirements.txt
}

# The venv for the hypha-rpc clients' own test suite (tests/rpc-suite): its test extra's
# dependencies (aiortc, fastmcp, openai...), kept apart from .venv so they cannot change what the
# e2e tests run with.
ensure_rpc_suite_venv() {
  _ensure_venv .cache/rpc-suite-venv tests/rpc-suite/requirements.txt
}

# --- WebAssembly (wasm-pack) -------------------------------------------------
# Nothing here downloads from GitHub: wasm-pack, wasm-bindgen-cli come from
# crates.io (cargo install), wasm-opt from npm (binaryen.js; Debian's is too
# old, see ensure_binaryen), Chromium/ChromeDriver from Debian.

# Put cargo's bin dir (where `cargo install` puts binaries) on PATH.
_cargo_bin_on_path() {
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  case ":$PATH:" in *":$bin:"*) ;; *) export PATH="$bin:$PATH" ;; esac
}

# cargo install CRATE [ARGS...], quietly, with a clear error on failure.
# Tries --locked first (the crate's own Cargo.lock); if that cannot resolve
# (e.g. a locked dependency version missing from the registry), retries with
# a fresh resolution.
_cargo_install() {
  local crate="$1" start=$SECONDS
  shift
  ensure_cargo || return 1
  deps_log "cargo install $crate${*:+ $*} --locked (first build takes minutes)"
  if ! cargo install --quiet --locked "$crate" "$@"; then
    deps_log "cargo install --locked $crate failed; retrying without --locked"
    cargo install --quiet "$crate" "$@" || {
      deps_die "cargo install $crate${*:+ $*} failed (see cargo's output above; is crates.io reachable?)"
      return 1
    }
  fi
  deps_log "cargo install $crate done in $((SECONDS - start))s"
}

# rustup target add wasm32-unknown-unknown, when missing.
ensure_wasm_target() {
  ensure_cargo || return 1
  local target=wasm32-unknown-unknown
  if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed 2>/dev/null | grep -qx "$target" && return 0
    deps_log "rustup target add $target"
    rustup target add "$target" >/dev/null 2>&1 || {
      deps_die "rustup target add $target failed"
      return 1
    }
  elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
    deps_die "Rust target $target missing and rustup not available"
    return 1
  fi
}

# wasm-pack from crates.io (wasm-pack's own installer downloads from GitHub).
ensure_wasm_pack() {
  ensure_wasm_target || return 1
  _cargo_bin_on_path
  command -v wasm-pack >/dev/null 2>&1 && return 0
  _cargo_install wasm-pack || return 1
  command -v wasm-pack >/dev/null 2>&1 || {
    deps_die "wasm-pack installed but not on PATH"
    return 1
  }
}

# wasm_bindgen_version_from_lock [Cargo.lock] : prints the version of the
# `wasm-bindgen` package in the lock file (default: $REPO_ROOT/Cargo.lock).
wasm_bindgen_version_from_lock() {
  local lock="${1:-$REPO_ROOT/Cargo.lock}" versions n
  [ -f "$lock" ] || {
    deps_die "$lock not found (run cargo generate-lockfile)"
    return 1
  }
  versions="$(awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = / { name = $3 }
    /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3 }
  ' "$lock")"
  n="$(grep -c . <<<"$versions" || true)"
  if [ "$n" -eq 0 ]; then
    deps_die "no wasm-bindgen package in $lock (add the wasm-bindgen dependency first)"
    return 1
  elif [ "$n" -gt 1 ]; then
    deps_die "several wasm-bindgen versions in $lock: $(tr '\n' ' ' <<<"$versions")"
    return 1
  fi
  printf '%s\n' "$versions"
}

# ensure_wasm_bindgen_cli [VERSION] : wasm-bindgen and wasm-bindgen-test-runner
# of exactly VERSION (default: the one in $REPO_ROOT/Cargo.lock) on PATH.
# wasm-pack (build and test) uses a PATH wasm-bindgen whose version equals
# the lock file's, and the wasm-bindgen-test-runner beside it, instead of
# downloading them from GitHub (unreachable here).
ensure_wasm_bindgen_cli() {
  ensure_cargo || return 1
  _cargo_bin_on_path
  local want="${1:-}" have=""
  if [ -z "$want" ]; then
    want="$(wasm_bindgen_version_from_lock "$REPO_ROOT/Cargo.lock")" || return 1
  fi
  if command -v wasm-bindgen >/dev/null 2>&1; then
    have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
  fi
  [ "$have" = "$want" ] && command -v wasm-bindgen-test-runner >/dev/null 2>&1 && return 0
  [ -n "$have" ] && deps_log "wasm-bindgen $have on PATH, Cargo.lock wants $want"
  _cargo_install wasm-bindgen-cli --version "$want" --force || return 1
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
  [ "$have" = "$want" ] || {
    deps_die "wasm-bindgen on PATH is '${have:-none}' ($(command -v wasm-bindgen || true)), want $want"
    return 1
  }
}

# wasm-opt (binaryen) >= HYPHA_BINARYEN_MIN on PATH, ahead of any older one.
# Debian bookworm's binaryen (version 108) must NOT be used: it rewrites the
# export of wasm-bindgen's `__wbindgen_externrefs` table to point at the
# funcref table (even at -O0), so the module fails to instantiate with
# "WebAssembly.Table.set(): Argument 1 is invalid for table". So binaryen comes
# from the npm package `binaryen` (binaryen.js; its bin/wasm-opt runs on Node),
# installed once into $HYPHA_TOOLS_DIR. wasm-pack runs whatever `wasm-opt` is
# first on PATH (with -O, or the args of
# [package.metadata.wasm-pack.profile.<profile>] wasm-opt = [...]).
HYPHA_BINARYEN_VERSION="${HYPHA_BINARYEN_VERSION:-132.0.0}"
HYPHA_BINARYEN_MIN="${HYPHA_BINARYEN_MIN:-132}"
HYPHA_TOOLS_DIR="${HYPHA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hypha-core-tools}"

# Prints the major version of the first wasm-opt on PATH (nothing if none).
wasm_opt_version() {
  command -v wasm-opt >/dev/null 2>&1 || return 0
  wasm-opt --version 2>/dev/null | sed -n 's/^wasm-opt version \([0-9][0-9]*\).*/\1/p'
}

ensure_binaryen() {
  local dir="$HYPHA_TOOLS_DIR/binaryen-$HYPHA_BINARYEN_VERSION" have
  case ":$PATH:" in *":$dir/node_modules/.bin:"*) ;; *)
    [ -x "$dir/node_modules/.bin/wasm-opt" ] && export PATH="$dir/node_modules/.bin:$PATH"
    ;;
  esac
  have="$(wasm_opt_version)"
  [ -n "$have" ] && [ "$have" -ge "$HYPHA_BINARYEN_MIN" ] && return 0
  ensure_node || return 1
  deps_log "npm install binaryen@$HYPHA_BINARYEN_VERSION into $dir (wasm-opt on PATH: ${have:-none})"
  mkdir -p "$dir" || return 1
  if ! npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error \
    "binaryen@$HYPHA_BINARYEN_VERSION" >/dev/null; then
    deps_die "npm install binaryen@$HYPHA_BINARYEN_VERSION failed"
    return 1
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
  have="$(wasm_opt_version)"
  if [ -z "$have" ] || [ "$have" -lt "$HYPHA_BINARYEN_MIN" ]; then
    deps_die "wasm-opt on PATH is version '${have:-none}' ($(command -v wasm-opt || true)), need >= $HYPHA_BINARYEN_MIN"
    return 1
  fi
}

# --- Chromium (headless browser tests) ----------------------------------------

# Debian's chromium + chromium-driver: /usr/bin/chromium, /usr/bin/chromedriver.
ensure_chromium() {
  apt_install chromium chromium-driver || return 1
  local f
  for f in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$f" ] || {
      deps_die "$f missing after installing chromium + chromium-driver"
      return 1
    }
  done
}

# Debian's redis-server and nginx, for the cluster tests (tests/e2e/python/test_cluster.py
# starts them on free loopback ports; their packaged services are not used).
ensure_cluster_tools() {
  apt_install redis-server nginx-light
}

# Flags for launching Chromium as root on this closed network (prints them).
# Without the background-networking ones Chromium keeps dialling Google hosts.
# Add --headless and a fresh --user-data-dir yourself (Playwright adds both).
chromium_launch_flags() {
  printf '%s' "--no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run"
}

# playwright-core is an npm devDependency (installed by ensure_node_modules);
# it drives Debian's /usr/bin/chromium (never `npx playwright install`, whose
# browser download fails here). Launch with executablePath '/usr/bin/chromium'
# and args from chromium_launch_flags.
ensure_playwright_core() {
  ensure_chromium || return 1
  ensure_node_modules || return 1
  (cd "$REPO_ROOT" && node -e 'require.resolve("playwright-core")' >/dev/null 2>&1) || {
    deps_die "playwright-core not in $REPO_ROOT/node_modules (add it to package.json devDependencies)"
    return 1
  }
}

# Deno from npm (`deno` ships the binary; no other download): installed once into .cache/deno.
# Exports DENO_BIN. DENO_VERSION overrides the version.
ensure_deno() {
  local dir="$REPO_ROOT/.cache/deno" version="${DENO_VERSION:-2.9.6}" bin d
  bin="$dir/node_modules/deno/deno"
  if [ ! -x "$bin" ]; then
    ensure_node
    deps_log "npm install deno@$version into $dir"
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{ "name": "hypha-deno", "private": true }' >"$dir/package.json"
    (cd "$dir" && npm install --no-save --no-audit --no-fund --loglevel=error "deno@$version") >&2
    # The package's postinstall links the binary; if npm skipped it, use the platform package's.
    if [ ! -x "$bin" ]; then
      for d in "$dir"/node_modules/@deno/linux-*/deno; do [ -x "$d" ] && bin="$d" && break; done
    fi
  fi
  [ -x "$bin" ] || { deps_die "deno not installed (npm install deno@$version failed)"; return 1; }
  DENO_BIN="$bin"
  export DENO_BIN
}

# --- Fuzzing (cargo-fuzz) -----------------------------------------------------

# One pinned nightly serves both of its users (a floating "nightly" would change under CI):
# cargo-fuzz, and the size-optimised browser wasm (scripts/build-wasm.sh).
HYPHA_NIGHTLY="${HYPHA_NIGHTLY:-nightly-2026-05-20}"

# The nightly toolchain cargo-fuzz builds with (FUZZ_TOOLCHAIN overrides $HYPHA_NIGHTLY):
# installed with rustup's minimal profile when missing. Exports FUZZ_TOOLCHAIN.
ensure_nightly_toolchain() {
  ensure_cargo || return 1
  FUZZ_TOOLCHAIN="${FUZZ_TOOLCHAIN:-$HYPHA_NIGHTLY}"
  export FUZZ_TOOLCHAIN
  command -v rustup >/dev/null 2>&1 || {
    deps_die "rustup not found: cargo-fuzz needs a nightly toolchain ($FUZZ_TOOLCHAIN)"
    return 1
  }
  rustup run "$FUZZ_TOOLCHAIN" rustc --version >/dev/null 2>&1 && return 0
  local start=$SECONDS
  deps_log "rustup toolchain install $FUZZ_TOOLCHAIN --profile minimal"
  rustup toolchain install "$FUZZ_TOOLCHAIN" --profile minimal >&2 || {
    deps_die "rustup toolchain install $FUZZ_TOOLCHAIN failed"
    return 1
  }
  deps_log "$FUZZ_TOOLCHAIN installed in $((SECONDS - start))s"
}

# The toolchain of the browser wasm: $HYPHA_NIGHTLY with rust-src and the wasm32 target, so that
# std is rebuilt with panic=immediate-abort. On wasm32-unknown-unknown a panic's message goes
# nowhere (no stderr, no hook), so formatting it is dead weight: 12–18 KB gzip of the in-tab
# server. Exports WASM_TOOLCHAIN; empty (build with the default toolchain, bigger) when rustup
# cannot install it, e.g. offline, or when HYPHA_WASM_STABLE=1.
ensure_wasm_toolchain() {
  WASM_TOOLCHAIN=""
  export WASM_TOOLCHAIN
  [ "${HYPHA_WASM_STABLE:-}" = 1 ] && return 0
  command -v rustup >/dev/null 2>&1 || {
    deps_log "no rustup: the wasm is built with $(rustc --version) and keeps std's panic machinery"
    return 0
  }
  local sysroot
  # (Fails while the toolchain is not installed: under `set -e` that must not end the script.)
  sysroot="$(rustup run "$HYPHA_NIGHTLY" rustc --print sysroot 2>/dev/null || true)"
  if [ -z "$sysroot" ] || [ ! -d "$sysroot/lib/rustlib/src/rust/library" ] ||
    [ ! -d "$sysroot/lib/rustlib/wasm32-unknown-unknown" ]; then
    local start=$SECONDS
    deps_log "rustup toolchain install $HYPHA_NIGHTLY --profile minimal -c rust-src -t wasm32-unknown-unknown"
    if ! rustup toolchain install "$HYPHA_NIGHTLY" --profile minimal -c rust-src \
      -t wasm32-unknown-unknown >&2; then
      deps_log "WARNING: cannot install $HYPHA_NIGHTLY: the wasm is built with the default toolchain (larger)"
      return 0
    fi
    deps_log "$HYPHA_NIGHTLY installed in $((SECONDS - start))s"
  fi
  WASM_TOOLCHAIN="$HYPHA_NIGHTLY"
}

# cargo-fuzz from crates.io: one on PATH, or in .cache/cargo-bin; otherwise `cargo install`ed
# into cargo's own bin dir (like wasm-pack), which outlives fresh clones of the repository.
ensure_cargo_fuzz() {
  ensure_nightly_toolchain || return 1
  _cargo_bin_on_path
  local cached="$REPO_ROOT/.cache/cargo-bin/bin"
  if ! command -v cargo-fuzz >/dev/null 2>&1 && [ -x "$cached/cargo-fuzz" ]; then
    export PATH="$cached:$PATH"
  fi
  command -v cargo-fuzz >/dev/null 2>&1 && return 0
  _cargo_install cargo-fuzz || return 1
  command -v cargo-fuzz >/dev/null 2>&1 || {
    deps_die "cargo-fuzz installed but not on PATH"
    return 1
  }
}

# Everything scripts/test.sh needs.
ensure_test_deps() {
  ensure_rust_components rustfmt clippy
  ensure_node_modules
  ensure_python_venv
}
