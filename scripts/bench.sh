#!/usr/bin/env bash
# Benchmarks labreg against other registries on this machine and prints the
# README's table. A benchmark, not a test. Peers are given by path, e.g.
#   scripts/bench.sh --peer registry2=/usr/bin/docker-registry \
#     --peer registry3=/var/tmp/peers/registry3 --peer angos=/var/tmp/peers/angos \
#     [--runs N] [--heavy-runs N] [--size-mib N] [--large-mib N] \
#     [--concurrent N --concurrent-mib N] [--gets-seconds N] [--storage s3]
# (README "Benchmarks" says how registry:3 and angos were built.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}"
cargo build --release --quiet -p labreg -p labbench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u '+%F %H:%M UTC'); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec "${CARGO_TARGET_DIR}/release/labbench" --labreg "${CARGO_TARGET_DIR}/release/labreg" "$@"
