#!/usr/bin/env bash
# Builds the in-tab server: the hypha-core crate for wasm32, its JS glue (wasm-bindgen, target
# web) and a size-optimised .wasm, into pkg/. Needs the wasm32 target, a wasm-bindgen CLI of the
# version in Cargo.lock, and wasm-opt (Debian's binaryen); scripts/lib/deps.sh installs them.
#
# Usage: scripts/build-wasm.sh [--dev]
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

profile=wasm-release
[ "${1:-}" = "--dev" ] && profile=dev
target_dir="$REPO_ROOT/target/wasm32-unknown-unknown/$([ "$profile" = dev ] && echo debug || echo "$profile")"

cargo build --lib --target wasm32-unknown-unknown --profile "$profile"
rm -rf pkg
wasm-bindgen --target web --out-dir pkg --out-name hypha_core "$target_dir/hypha_core.wasm"
if [ "$profile" != dev ]; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals -o pkg/hypha_core_bg.opt.wasm pkg/hypha_core_bg.wasm
  mv pkg/hypha_core_bg.opt.wasm pkg/hypha_core_bg.wasm
fi
echo "pkg/hypha_core_bg.wasm: $(wc -c <pkg/hypha_core_bg.wasm) bytes, $(gzip -9c pkg/hypha_core_bg.wasm | wc -c) gzipped"
