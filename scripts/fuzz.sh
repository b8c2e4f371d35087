#!/usr/bin/env bash
# The longer suite: runs every fuzz target of labreg's parsers of outside
# input (routes and names, references and digests, manifests and indexes,
# Range and Content-Range, config.yml with REGISTRY_* overrides, htpasswd,
# and labctl's lab.yaml)
# for SECONDS each (default 60), growing the corpus in fuzz/corpus/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them (no other toolchain can be installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(routes references manifests ranges config htpasswd lab_yaml)
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}-fuzz"
cd fuzz
for t in "${targets[@]}"; do
  echo "==> fuzz ${t} for ${seconds}s"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 \
    | grep -E '^(==|stat::number_of_executed_units|stat::new_units_added|SUMMARY|Done)|panicked|ERROR' || true
  # A crash leaves an artifact and a non-zero exit above; fail loudly.
  if ls "artifacts/$t"/crash-* >/dev/null 2>&1; then
    echo "fuzz ${t}: crash found, see fuzz/artifacts/${t}" >&2
    exit 1
  fi
done
