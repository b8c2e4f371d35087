#!/usr/bin/env bash
# Starts a real S3 server (Garage, installed by scripts/setup.sh) on loopback
# for labreg's tests and benchmarks: a fresh data folder, free ports, one
# node with a layout, one bucket and one key allowed on it.
#
#   scripts/s3-server.sh DIR [--watch PID]
#
# Prints the connection as KEY=VALUE lines on stdout (S3_ENDPOINT, S3_REGION,
# S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_PID). Garage runs in the
# background until killed (kill "$S3_PID"); with --watch, also until PID
# exits, so a test run that dies leaves no server behind.
set -euo pipefail

dir=${1:?usage: s3-server.sh DIR [--watch PID]}
watch=""
if [ "${2:-}" = "--watch" ]; then watch=${3:?--watch takes a PID}; fi

garage=$(command -v garage || true)
[ -n "$garage" ] || [ ! -x "$HOME/.cargo/bin/garage" ] || garage="$HOME/.cargo/bin/garage"
if [ -z "$garage" ]; then
  echo "s3-server: garage is not installed: run scripts/setup.sh" >&2
  exit 1
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

mkdir -p "$dir/meta" "$dir/data"
rpc=$(free_port)
s3=$(free_port)
cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(hex 32)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"
EOF

g() { "$garage" -c "$dir/garage.toml" "$@"; }

RUST_LOG=warn nohup "$garage" -c "$dir/garage.toml" server >"$dir/garage.log" 2>&1 &
pid=$!
if [ -n "$watch" ]; then
  ( while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill "$pid" 2>/dev/null || true ) >/dev/null 2>&1 &
fi

# `node id` reads the local key; `status` needs the server's RPC port,
# which the layout commands below use (they failed with "connection
# refused" when run before it listened).
node=""
for _ in $(seq 1 100); do
  if g status >/dev/null 2>&1 && node=$(g node id -q 2>/dev/null); then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "s3-server: garage exited:" >&2; cat "$dir/garage.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$node" ] || { echo "s3-server: garage did not answer" >&2; cat "$dir/garage.log" >&2; exit 1; }

g layout assign -z dc1 -c 1G "${node%%@*}" >/dev/null
g layout apply --version 1 >/dev/null
key_id="GK$(hex 12)"
secret=$(hex 32)
g key import --yes -n labreg "$key_id" "$secret" >/dev/null
g bucket create labreg >/dev/null
g bucket allow --read --write --owner labreg --key labreg >/dev/null

# The S3 API answers once the layout is live.
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$s3/"; then break; fi
  sleep 0.1
done

echo "S3_ENDPOINT=http://127.0.0.1:$s3"
echo "S3_REGION=garage"
echo "S3_BUCKET=labreg"
echo "S3_ACCESS_KEY=$key_id"
echo "S3_SECRET_KEY=$secret"
echo "S3_PID=$pid"
