#!/usr/bin/env bash
# The README's first command: installs what is missing (scripts/setup.sh),
# builds labctl and labreg (release), then runs `labctl up` on the example
# lab: its registry on this machine, from the same config.yml, htpasswd and
# CA that `labctl render` seals for the cluster, storage in .lab/registry,
# checked with `labctl verify push`, serving until Ctrl-C.
#
#   PORT=5001 scripts/run.sh     # another port (default 5000)
#   DETACH=1 scripts/run.sh      # verify, then leave labreg running; `labctl down` stops it
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}"
echo "==> building labctl and labreg (release)" >&2
cargo build --release --quiet -p labctl -p labreg

args=(up --port "${PORT:-5000}")
if [ -n "${DETACH:-}" ]; then
  args+=(--detach)
fi
# With no age identity of yours for the example lab, labctl up uses its demo
# identity (demo/age-identity.txt, public on purpose) and says so.
exec "${CARGO_TARGET_DIR}/release/labctl" -f lab.yaml "${args[@]}"
