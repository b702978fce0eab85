#!/usr/bin/env bash
# Coverage-guided fuzzing of what a peer reaches (fuzz/, cargo-fuzz + libFuzzer): builds the
# targets and runs each for SECONDS on a copy of its seed corpus (fuzz/corpus/<target>/, so a run
# never grows the repository's corpus), then prints executions and coverage per target. Fails if
# any target crashed, showing the input (its path under fuzz/artifacts/ and base64) and the panic.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: 20 s, every target in fuzz/fuzz_targets/)
#
# Installs what is missing: a nightly toolchain (rustup) and cargo-fuzz (cargo install).
# Environment:
#   FUZZ_SANITIZER   address|none (default none: the crate has no unsafe code of its own, and without
#                    AddressSanitizer the targets run several times faster; debug assertions and
#                    overflow checks stay on either way)
#   FUZZ_TOOLCHAIN   the nightly toolchain to use (default: HYPHA_NIGHTLY of scripts/lib/deps.sh)
#   FUZZ_JOBS        targets fuzzed at once (default 1)
#   CARGO_TARGET_DIR where to build (default: fuzz/target)
# Run it under `nice -n 19` on a shared machine.
set -Eeuo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
cd "$REPO_ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$REPO_ROOT/scripts/lib/deps.sh"

say() { printf '[fuzz] %s\n' "$*" >&2; }

SECONDS_PER_TARGET=20
if [ "$#" -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  SECONDS_PER_TARGET="$1"
  shift
fi
ALL_TARGETS=()
for f in fuzz/fuzz_targets/*.rs; do
  ALL_TARGETS+=("$(basename "$f" .rs)")
done
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
  for t in "${TARGETS[@]}"; do
    case " ${ALL_TARGETS[*]} " in *" $t "*) ;; *)
      echo "unknown fuzz target '$t' (targets: ${ALL_TARGETS[*]})" >&2
      exit 2
      ;;
    esac
  done
else
  TARGETS=("${ALL_TARGETS[@]}")
fi
SANITIZER="${FUZZ_SANITIZER:-none}"
JOBS="${FUZZ_JOBS:-1}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/fuzz/target}"

start=$SECONDS
ensure_cargo_fuzz || exit 2
say "tools ready in $((SECONDS - start))s ($(rustup run "$FUZZ_TOOLCHAIN" rustc --version), $(cargo fuzz --version 2>/dev/null | head -n1))"

FUZZ=(cargo "+$FUZZ_TOOLCHAIN" fuzz)
BUILD_FLAGS=(--sanitizer "$SANITIZER" --target-dir "$TARGET_DIR")

# ---- build ---------------------------------------------------------------------------------
build_start=$SECONDS
if [ "${#TARGETS[@]}" -eq "${#ALL_TARGETS[@]}" ]; then
  say "building every target (sanitizer: $SANITIZER)"
  "${FUZZ[@]}" build "${BUILD_FLAGS[@]}"
else
  for t in "${TARGETS[@]}"; do
    say "building $t (sanitizer: $SANITIZER)"
    "${FUZZ[@]}" build "${BUILD_FLAGS[@]}" "$t"
  done
fi
say "built in $((SECONDS - build_start))s"

# ---- run -----------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hypha-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# run_target TARGET: fuzz it for SECONDS_PER_TARGET; its log is $WORK/TARGET.log, its exit
# status $WORK/TARGET.rc.
run_target() {
  local t="$1" corpus="$WORK/corpus-$1" args=()
  mkdir -p "$corpus" "$REPO_ROOT/fuzz/artifacts/$t"
  if [ -d "fuzz/corpus/$t" ]; then
    cp -R "fuzz/corpus/$t/." "$corpus/"
  fi
  args=(-max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1)
  [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
  local rc=0
  "${FUZZ[@]}" run "${BUILD_FLAGS[@]}" "$t" "$corpus" -- "${args[@]}" >"$WORK/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$WORK/$t.rc"
}

run_start=$SECONDS
running=0
for t in "${TARGETS[@]}"; do
  say "fuzzing $t for ${SECONDS_PER_TARGET}s"
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true
say "fuzzed in $((SECONDS - run_start))s"

# ---- report --------------------------------------------------------------------------------
# fuzz_stat VALUE-NAME LOG: a libFuzzer final statistic.
fuzz_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n1; }
# last_status LOG: the last status line (`#N DONE cov: ... ft: ... corp: ...`).
last_status() { grep -aE '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse|RELOAD)' "$1" | tail -n1; }

failed=()
printf '\n%-14s %10s %8s %7s %7s %12s  %s\n' target execs exec/s cov ft corpus result
for t in "${TARGETS[@]}"; do
  log="$WORK/$t.log"
  rc="$(cat "$WORK/$t.rc" 2>/dev/null || echo 1)"
  line="$(last_status "$log")"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$line")"
  execs="$(fuzz_stat number_of_executed_units "$log")"
  rate="$(fuzz_stat average_exec_per_sec "$log")"
  result=ok
  if [ "$rc" != 0 ]; then
    result="FAILED (exit $rc)"
    failed+=("$t")
  fi
  printf '%-14s %10s %8s %7s %7s %12s  %s\n' "$t" "${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$result"
done

for t in "${failed[@]}"; do
  log="$WORK/$t.log"
  printf '\n===== %s crashed =====\n' "$t"
  # The panic (or sanitizer report) and libFuzzer's verdict.
  grep -aE -A12 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|==[0-9]+==ERROR|deadly signal|Timeout|out-of-memory" "$log" | head -n 60 || true
  artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)"
  if [ -n "$artifact" ] && [ -f "$artifact" ]; then
    printf '\ninput: %s (%s bytes)\n' "$artifact" "$(wc -c <"$artifact")"
    printf 'base64: %s\n' "$(head -c 8192 "$artifact" | base64 -w0)"
    printf 'reproduce: cargo +%s fuzz run --sanitizer %s %s %s\n' "$FUZZ_TOOLCHAIN" "$SANITIZER" "$t" "$artifact"
  else
    echo "(no crash input recorded; the last lines of the log follow)"
    tail -n 30 "$log"
  fi
done

say "total $((SECONDS - start))s, ${SECONDS_PER_TARGET}s per target"
echo "fuzz: $((${#TARGETS[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing FAILED: ${failed[*]}" >&2
  exit 1
fi
