#!/usr/bin/env bash
# The longer suite's soak: mixed pushes and pulls by 16 clients against one
# labreg on loopback for MINUTES (default 10); fails on any error or on
# memory that keeps growing.   scripts/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}"
cargo build --release --quiet -p labreg -p labbench
exec "${CARGO_TARGET_DIR}/release/labbench" --labreg "${CARGO_TARGET_DIR}/release/labreg" --soak-minutes "${1:-10}"
