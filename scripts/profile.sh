#!/usr/bin/env bash
# Profiles labreg's hot paths: runs the benchmark workloads against labreg
# only, under `perf record` (software cpu-clock: this machine's VM exposes no
# hardware counters), and prints the hottest functions of the labreg process.
#   scripts/profile.sh [--size-mib N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
command -v perf >/dev/null 2>&1 || apt-get install -y -qq linux-perf >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}-prof"
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
export RUSTFLAGS="-C force-frame-pointers=yes"
cargo build --release --quiet -p labreg -p labbench
out=$(mktemp -d)
perf record -e cpu-clock -F 999 -g -o "$out/perf.data" -- \
  "${CARGO_TARGET_DIR}/release/labbench" --labreg "${CARGO_TARGET_DIR}/release/labreg" --only labreg --runs 1 --gets-seconds 3 "$@" >"$out/table.txt" 2>/dev/null
cat "$out/table.txt"
echo
echo "hottest functions in the labreg process (self time):"
perf report -i "$out/perf.data" --comm labreg --no-children --sort symbol --stdio 2>/dev/null \
  | grep -E '^ +[0-9]+\.[0-9]+%' | head -25
echo "(perf data: $out/perf.data)"
