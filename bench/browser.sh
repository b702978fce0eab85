#!/usr/bin/env bash
# Browser benchmark, ours vs hypha-core@0.20.86 in one Chromium run: see bench/README.md.
# Usage: bench/browser.sh [--only ours|reference] [--quick] [--dist DIR] [--rounds N] [--verbose]
exec node "$(dirname "${BASH_SOURCE[0]}")/browser/run.mjs" "$@"
