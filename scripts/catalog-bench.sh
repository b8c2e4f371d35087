#!/bin/bash
# The catalog and storage usage on a store of N repositories (default
# 10,000), labreg beside Debian's docker-registry on the same folder:
# milliseconds of 5 requests each, and whether both list the same names.
#   scripts/catalog-bench.sh [LABREG_BINARY] [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
labreg=${1:-$here/../target/release/labreg}
n=${2:-10000}
work=$(mktemp -d /var/tmp/catalog-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
python3 "$here/catalog-store.py" "$work/data" "$n"
for port in 5301 5302; do
  cat > "$work/$port.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $work/data}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: 127.0.0.1:$port}
catalog: {maxentries: $n}
YML
done
# labreg answers _catalog from its index only when told it is the store's
# one writer (true here: docker-registry only reads).
echo "labreg: {catalog_index: {enabled: true}}" >> "$work/5301.yml"
"$labreg" serve "$work/5301.yml" & docker-registry serve "$work/5302.yml" &
for port in 5301 5302; do
  until curl -sf -o /dev/null "http://127.0.0.1:$port/v2/"; do sleep 0.2; done
done
# labreg builds its index in the background after it answers; the first
# usage request waits for it (its time is the build's, printed here).
echo "index built after: $(curl -s -o /dev/null -w '%{time_total}' http://127.0.0.1:5301/labreg/v1/usage) s"
times() { for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done |
  awk '{printf "%.1f ", $1*1000} END {print "ms"}'; }
for q in "n=$n" "n=100&last=team5/app505"; do
  echo "_catalog?$q  labreg: $(times "http://127.0.0.1:5301/v2/_catalog?$q")  docker-registry: $(times "http://127.0.0.1:5302/v2/_catalog?$q")"
  same=$(python3 -c "import json,sys,urllib.request as u; g=lambda p: json.load(u.urlopen(f'http://127.0.0.1:{p}/v2/_catalog?$q'))['repositories']; print(g(5301)==g(5302))")
  echo "  same names: $same"
done
echo "/labreg/v1/usage  labreg: $(times http://127.0.0.1:5301/labreg/v1/usage)  (docker-registry has none)"
