#!/usr/bin/env bash
# Benchmarks labreg against Debian's docker-registry (distribution 2.8) on
# this machine and prints the README's table. A benchmark, not a test.
#   scripts/bench.sh [--runs N] [--size-mib N] [--gets-seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}"
cargo build --release --quiet -p labreg -p labbench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%F)" >&2
exec "${CARGO_TARGET_DIR}/release/labbench" --labreg "${CARGO_TARGET_DIR}/release/labreg" "$@"
