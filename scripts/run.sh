#!/usr/bin/env bash
# The main job, on its embedded default: builds labreg, starts it on this
# machine with filesystem storage in .lab/registry, pushes a freshly built
# image with skopeo, checks the catalog and tags list, pulls it back and
# compares digests, then keeps serving until Ctrl-C.
#
#   PORT=5001 scripts/run.sh     # another port
#   DETACH=1 scripts/run.sh      # verify, then leave labreg running
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

port="${PORT:-5000}"
host="127.0.0.1:${port}"
data="${root}/.lab/registry"

bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/labctl-target}"
echo "==> building labreg (release)"
cargo build --release --quiet -p labreg
labreg="${CARGO_TARGET_DIR}/release/labreg"

if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
  echo "error: port ${port} is already in use; run again with PORT=<free port> scripts/run.sh" >&2
  exit 1
fi

mkdir -p "$data" "${root}/.lab/log"
echo "==> starting labreg on ${host}, storage in ${data}"
REGISTRY_HTTP_ADDR="$host" \
REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$data" \
REGISTRY_STORAGE_DELETE_ENABLED=true \
  "$labreg" serve >"${root}/.lab/log/labreg.log" 2>&1 &
pid=$!
echo "$pid" > "${root}/.lab/labreg.pid"
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "${root}/.lab/labreg.pid"; }
trap 'stop; exit 130' INT TERM
ready=0
for _ in $(seq 1 100); do
  if curl -fsS "http://${host}/v2/" >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.05
done
if [ "$ready" != 1 ]; then
  echo "error: labreg did not start; its log:" >&2
  cat "${root}/.lab/log/labreg.log" >&2
  stop
  exit 1
fi

echo "==> building a small OCI image"
work=$(mktemp -d)
trap 'stop; rm -rf "$work"; exit 130' INT TERM
bash scripts/make-oci-image.sh "$work/image" "demo" "hello from labreg at $(date -u +%FT%TZ)"

echo "==> verify: push, catalog, tags list, pull, digests"
skopeo copy --quiet --dest-tls-verify=false "oci:${work}/image:demo" "docker://${host}/demo/hello:latest"
catalog=$(curl -fsS "http://${host}/v2/_catalog")
tags=$(curl -fsS "http://${host}/v2/demo/hello/tags/list")
echo "    catalog:   ${catalog}"
echo "    tags list: ${tags}"
grep -q '"demo/hello"' <<<"$catalog" || { echo "error: demo/hello missing from the catalog" >&2; stop; exit 1; }
grep -q '"latest"' <<<"$tags" || { echo "error: tag latest missing" >&2; stop; exit 1; }
skopeo copy --quiet --src-tls-verify=false "docker://${host}/demo/hello:latest" "oci:${work}/back:latest"
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "${work}/image/index.json")
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "${work}/back/index.json")
if [ "$want" != "$got" ]; then
  echo "error: pulled digest ${got} differs from pushed ${want}" >&2; stop; exit 1
fi
echo "    pushed and pulled ${want}: identical"
rm -rf "$work"

cat <<MSG

labreg is serving http://${host} (storage: ${data}, log: .lab/log/labreg.log)
  skopeo:  skopeo copy --dest-tls-verify=false oci:DIR:TAG docker://${host}/NAME:TAG
  podman:  podman push --tls-verify=false IMAGE ${host}/NAME:TAG
  docker:  add "${host}" to "insecure-registries" in /etc/docker/daemon.json, then docker push ${host}/NAME:TAG
  curl:    curl http://${host}/v2/_catalog
MSG

if [ -n "${DETACH:-}" ]; then
  echo "labreg left running (pid ${pid}); stop it with: kill \$(cat .lab/labreg.pid)"
  trap - INT TERM
  exit 0
fi
echo "Ctrl-C stops it."
trap 'echo; echo "stopping labreg"; stop; exit 0' INT TERM
wait "$pid"
