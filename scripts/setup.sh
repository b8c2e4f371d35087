#!/usr/bin/env bash
# Installs everything labctl's commands and tests need on a fresh Debian
# machine: the real registry clients (skopeo, podman, buildah), the reference
# registry (Debian's docker-registry, i.e. distribution 2.8), and the interop
# tools (age, htpasswd from apache2-utils, openssl), and containerd (its `ctr`
# pulls labreg's offline image in the image tests; iproute2's `ip` brings up
# loopback in the network namespace labreg runs in there). Idempotent and
# quiet when everything is already there.
set -euo pipefail

# chromium, nodejs and npm: the web UI's end-to-end tests (Playwright drives
# Debian's Chromium; server/ui-tests).
# argon2: the benchmark hashes its user's password for angos (its format).
packages=(skopeo podman buildah docker-registry apache2-utils age openssl faketime ca-certificates curl python3 python3-pip containerd iproute2 chromium argon2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# kubectl, for `labctl sealing fetch-cert` and its test (Debian's package).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
# Node.js and npm: a machine that has them (from any source) keeps them;
# Debian's npm cannot be installed beside another distribution's nodejs.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python packages of the render tests' independent checks: `cryptography`
# opens sealed values without labctl's code; kubernetes-validate bundles the
# Kubernetes OpenAPI schemas; jsonschema and PyYAML check the CRD schemas.
if ! python3 -c 'import cryptography, jsonschema, kubernetes_validate, yaml' 2>/dev/null; then
  echo "setup: installing Python packages cryptography jsonschema kubernetes-validate pyyaml" >&2
  python3 -m pip install --quiet --disable-pip-version-check cryptography jsonschema kubernetes-validate pyyaml \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages cryptography jsonschema kubernetes-validate pyyaml
fi

# Debian's docker-registry package starts a system service on :5000; the
# tests and benchmarks start their own instances, so keep the port free.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
if pgrep -x docker-registry >/dev/null 2>&1 && [ -f /etc/docker/registry/config.yml ]; then
  pkill -x docker-registry || true
fi

# A real S3 server for the S3 driver's tests and benchmarks: Garage (AGPL-3.0,
# run here as a separate program, never vendored). Built from crates.io once
# per machine; ~/.cargo/bin/garage is kept between runs, so later runs skip it.
if ! command -v garage >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/garage" ]; then
  echo "setup: building garage from crates.io (once per machine: about 17 minutes on 2 busy cores)" >&2
  build_dir="${TMPDIR:-/tmp}/garage-build"
  cargo install garage --version 2.5.0 --locked --quiet \
    --no-default-features --features bundled-libs,sqlite \
    --target-dir "$build_dir"
  rm -rf "$build_dir"
fi
