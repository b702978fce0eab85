#!/usr/bin/env bash
# hypha-core 0.20.86's own Deno tests (test/deno/: asgi-tests, context-injection-test,
# streaming-test, jwt-auth-test, simple-asgi-test) against a packed hypha-core-rs, with only their
# import lines changed. The test files come from the registry's hypha-core@0.20.86 (npm pack,
# cached in .cache/hypha-core-0.20.86); each runs under Deno in a fresh project that installed
# the tarball. Every test case is reported; the failures we expect (hypha-core behaviour we
# deliberately do not reproduce) are listed, with the message they must fail with and why, in
# expected-failures.txt. The run fails if a case outside that list fails, if a listed case fails
# with another message, or if a listed case passes.
#
# Usage: bash tests/consumers/deno-tests/run.sh path/to/hypha-core-rs-X.Y.Z.tgz
# Env:   DENO_BIN             the deno binary (default .cache/deno/node_modules/deno/deno, installed
#                             from npm there if missing; DENO_VERSION, default 2.9.6)
#        HYPHA_CORE_REF_DIR   an unpacked hypha-core@0.20.86 package (default: the npm pack cache)
#        DENO_TEST_TIMEOUT    seconds one test file may run (default 300)
#        DENO_TEST_FILES      a space-separated subset of the five files
#        KEEP=1               keep the temporary project (and the logs)
# Output: one line per test case, then `# pass N`, `# fail N`, `# expected-fail N`.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 path/to/hypha-core-rs-X.Y.Z.tgz" >&2
  exit 2
fi
TARBALL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CACHE=$ROOT/.cache
REF_VERSION=0.20.86
FILES=(asgi-tests.js context-injection-test.js streaming-test.js jwt-auth-test.js simple-asgi-test.js)
# DENO_TEST_FILES="a.js b.js": only these (while debugging; the list's other entries are not checked)
if [ -n "${DENO_TEST_FILES:-}" ]; then read -r -a FILES <<<"$DENO_TEST_FILES"; fi
NPM_FLAGS=(--no-audit --no-fund --prefer-offline --loglevel=error)
START=$SECONDS

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hypha-deno-tests.XXXXXX")
# shellcheck disable=SC2317 # called by the trap
cleanup() { if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT
if [ "${KEEP:-0}" = 1 ]; then echo "# project and logs kept in $WORK"; fi
say() { echo "# $*"; }
die() {
  echo "# error: $*" >&2
  echo "Bail out! $*"
  exit 1
}

# ---- deno (npm's `deno` package ships the binary) --------------------------------------------
DENO=${DENO_BIN:-$CACHE/deno/node_modules/deno/deno}
if [ ! -x "$DENO" ]; then
  say "npm install deno@${DENO_VERSION:-2.9.6} into $CACHE/deno"
  mkdir -p "$CACHE/deno"
  [ -f "$CACHE/deno/package.json" ] || echo '{ "name": "hypha-deno", "private": true }' >"$CACHE/deno/package.json"
  (cd "$CACHE/deno" && npm install --no-save "${NPM_FLAGS[@]}" "deno@${DENO_VERSION:-2.9.6}") >&2
  if [ ! -x "$DENO" ]; then # npm skipped the postinstall that links it
    for d in "$CACHE"/deno/node_modules/@deno/linux-*/deno; do [ -x "$d" ] && DENO=$d && break; done
  fi
  [ -x "$DENO" ] || die "no deno binary (npm install deno failed)"
fi
say "$("$DENO" --version | head -n 1)"

# ---- the reference's test files (npm pack hypha-core@0.20.86, once) -------------------------
REF=${HYPHA_CORE_REF_DIR:-$CACHE/hypha-core-$REF_VERSION/package}
if [ ! -f "$REF/test/deno/asgi-tests.js" ]; then
  [ -z "${HYPHA_CORE_REF_DIR:-}" ] || die "$REF has no test/deno/asgi-tests.js"
  say "npm pack hypha-core@$REF_VERSION into $CACHE/hypha-core-$REF_VERSION"
  mkdir -p "$WORK/pack" "$CACHE/hypha-core-$REF_VERSION"
  name=$(cd "$WORK/pack" && npm pack "hypha-core@$REF_VERSION" --silent | tail -n 1) || die "npm pack hypha-core@$REF_VERSION failed"
  tar xzf "$WORK/pack/$name" -C "$CACHE/hypha-core-$REF_VERSION" || die "cannot unpack $name"
  [ -f "$REF/test/deno/asgi-tests.js" ] || die "hypha-core@$REF_VERSION has no test/deno/"
fi
say "reference tests: $REF/test/deno"

# ---- the consumer project ------------------------------------------------------------------
PROJECT=$WORK/project
mkdir -p "$PROJECT/test/deno" "$WORK/logs"
printf '{ "name": "hypha-core-deno-tests", "private": true, "type": "module" }\n' >"$PROJECT/package.json"
(cd "$PROJECT" && npm install "${NPM_FLAGS[@]}" --no-package-lock "$TARBALL") >"$WORK/logs/npm-install.log" 2>&1 ||
  {
    tail -n 20 "$WORK/logs/npm-install.log" >&2
    die "npm install $(basename "$TARBALL") failed"
  }
say "installed $(basename "$TARBALL") into a fresh project"
# Only the import lines change; imports.mjs refuses anything else (and prints the diff).
node "$HERE/imports.mjs" "$REF/test/deno" "$PROJECT/test/deno" "${FILES[@]}" || die "cannot rewrite the imports"
cp "$HERE/driver.js" "$PROJECT/test/deno/"

# ---- run each file under Deno ----------------------------------------------------------------
# The files with an `import.meta.main` block run as they are (their README's command). jwt-auth-test
# has none: like the reference's own run-all-tests.js, the driver imports its exported runner
# and calls run().
TIMEOUT=${DENO_TEST_TIMEOUT:-300}
for file in "${FILES[@]}"; do
  if grep -q 'import\.meta\.main' "$PROJECT/test/deno/$file"; then
    args=("test/deno/$file")
  else
    runner=$(sed -n 's/^export { *\([A-Za-z0-9_]*\) *};.*/\1/p' "$PROJECT/test/deno/$file" | head -n 1)
    [ -n "$runner" ] || die "$file has neither an import.meta.main block nor an exported runner"
    args=(test/deno/driver.js "$file" "$runner")
  fi
  t0=$SECONDS
  (cd "$PROJECT" && timeout -k 10 "$TIMEOUT" "$DENO" run --allow-net --allow-read --allow-env "${args[@]}") \
    >"$WORK/logs/$file.log" 2>&1 </dev/null
  echo "$? $((SECONDS - t0))" >"$WORK/logs/$file.status"
done

node "$HERE/report.mjs" "$HERE/expected-failures.txt" "$PROJECT/test/deno" "$WORK/logs" "${FILES[@]}"
rc=$?
say "$((SECONDS - START)) s"
exit $rc
