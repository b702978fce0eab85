#!/usr/bin/env bash
# Builds the wasm32 modules of the hypha-core crate — the in-tab server and the plugin parser
# (size-optimised), and the server-mode build (speed-optimised) — with their JS glue
# (wasm-bindgen, target web), into pkg/. Needs the wasm32 target, a wasm-bindgen CLI of the
# version in Cargo.lock, and wasm-opt (Debian's binaryen); scripts/lib/deps.sh installs them.
#
# Usage: scripts/build-wasm.sh [--dev | --names DIR]
#   --names DIR  only the in-tab module, optimised as shipped but with its function names kept,
#                into DIR (for bench/wasm-size.py); pkg/ is left alone
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
cd "$REPO_ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$REPO_ROOT/scripts/lib/deps.sh"
ensure_wasm_target
ensure_wasm_bindgen_cli
# Debian's wasm-opt (binaryen 108) corrupts wasm-bindgen's externref table export; this installs
# a recent one from npm when needed.
ensure_binaryen

dev=0
names_dir=""
case "${1:-}" in
  --dev) dev=1 ;;
  --names) names_dir="${2:?--names needs a directory}" ;;
esac
# The optimised builds rebuild std with panic=immediate-abort on the pinned nightly (see
# ensure_wasm_toolchain); without it, or with --dev, the default toolchain builds as before.
cargo_build=(cargo build)
# For the modules a page downloads: std's own smaller variants (sorting, number formatting),
# -1.8 KB gzip on the in-tab wasm; not for the server-mode build, which is built for speed.
size_std=()
if [ "$dev" = 0 ]; then
  ensure_wasm_toolchain
  if [ -n "$WASM_TOOLCHAIN" ]; then
    cargo_build=(cargo "+$WASM_TOOLCHAIN" build -Z build-std=std,panic_abort)
    size_std=(-Z build-std-features=optimize_for_size)
    # A panic aborts without a word, so its file, line and column would be dead weight.
    export RUSTFLAGS="${RUSTFLAGS:-} -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
    # Its own target dir: std built this way must not mix with the default toolchain's builds.
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/wasm-nightly"
  fi
fi

# One crate, three modules: the in-tab server (default features), the plugin parser, which the
# page imports only when an app is plugin source, and the server-mode build.
# A page downloads its modules, so they are built for size (cargo profile wasm-release,
# wasm-opt -Oz); a server loads its module once and runs it for every request, so that one is
# built for speed (wasm-server, -O3).
build_module() { # build_module OUT_NAME CARGO_PROFILE WASM_OPT_LEVEL CARGO_FEATURE_ARGS...
  local name="$1" module_profile="$2" opt_level="$3"
  shift 3
  [ "$dev" = 1 ] && module_profile=dev
  local target_dir
  target_dir="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/wasm32-unknown-unknown/$([ "$module_profile" = dev ] && echo debug || echo "$module_profile")"
  local std_features=()
  [ "$module_profile" = wasm-release ] && std_features=("${size_std[@]}")
  "${cargo_build[@]}" "${std_features[@]}" --lib --target wasm32-unknown-unknown --profile "$module_profile" "$@"
  local out=pkg keep_names=()
  if [ -n "$names_dir" ]; then
    out="$names_dir"
    keep_names=(-g --strip-dwarf)
    wasm-bindgen --target web --keep-debug --out-dir "$out" --out-name "$name" "$target_dir/hypha_core.wasm"
  else
    wasm-bindgen --target web --out-dir "$out" --out-name "$name" "$target_dir/hypha_core.wasm"
  fi
  if [ "$dev" = 0 ]; then
    # The producers and target_features sections are build metadata wasm-bindgen has already
    # read; no browser needs them.
    wasm-opt "$opt_level" "${keep_names[@]}" --strip-producers --strip-target-features --enable-bulk-memory \
      --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
      -o "$out/${name}_bg.opt.wasm" "$out/${name}_bg.wasm"
    mv "$out/${name}_bg.opt.wasm" "$out/${name}_bg.wasm"
  fi
  echo "$out/${name}_bg.wasm: $(wc -c <"$out/${name}_bg.wasm") bytes, $(gzip -9c "$out/${name}_bg.wasm" | wc -c) gzipped"
}
if [ -n "$names_dir" ]; then
  mkdir -p "$names_dir"
  build_module hypha_core wasm-release -Oz
  exit 0
fi
rm -rf pkg
build_module hypha_core wasm-release -Oz
build_module hypha_core_plugin wasm-release -Oz --no-default-features --features plugin-bridge
# Server mode (hypha-core-rs/deno-websocket-server, Deno and Node): the server with the HTTP API.
build_module hypha_core_server wasm-server -O3 --features http
# Which std the page's modules were built with: js/test/core.test.mjs holds the page's download
# to the size budget of that build.
if [ "$dev" = 1 ]; then
  echo dev >pkg/size-build.txt
elif [ -n "$WASM_TOOLCHAIN" ]; then
  echo "$WASM_TOOLCHAIN" >pkg/size-build.txt
else
  echo default-toolchain >pkg/size-build.txt
fi
