#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs the tools the
# tests use (scripts/setup.sh), then formatting, lints and the test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# A target dir outside the clone, reused between runs when it exists.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Bounded: a hung test fails the run with a message instead of eating CI's
# 90 minutes.
timeout --foreground 3000 cargo test --workspace || { rc=$?; [ $rc -eq 124 ] && echo "test.sh: cargo test ran over 50 minutes (a hung test?)" >&2; exit $rc; }

# The example lab's apps/ is what render writes (offline, demo identity).
LABCTL_AGE_KEY_FILE=demo/age-identity.txt "${CARGO_TARGET_DIR}/debug/labctl" render --check
