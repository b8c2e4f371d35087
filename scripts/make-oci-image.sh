#!/usr/bin/env bash
# Writes a one-layer OCI image layout: make-oci-image.sh DIR TAG TEXT
set -euo pipefail
dir=$1 tag=$2 text=$3
mkdir -p "$dir/blobs/sha256"
tmp=$(mktemp -d)
printf '%s\n' "$text" > "$tmp/hello.txt"
tar --sort=name --mtime=@0 --owner=0 --group=0 -C "$tmp" -cf "$tmp/layer.tar" hello.txt
diff_id=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
gzip -n -c "$tmp/layer.tar" > "$tmp/layer.tar.gz"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$dir/blobs/sha256/$d"; echo "$d"; }
size() { stat -c %s "$1"; }
layer=$(blob "$tmp/layer.tar.gz")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" > "$tmp/config.json"
config=$(blob "$tmp/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$(size "$tmp/config.json")" "$layer" "$(size "$tmp/layer.tar.gz")" > "$tmp/manifest.json"
manifest=$(blob "$tmp/manifest.json")
printf '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$(size "$tmp/manifest.json")" "$tag" > "$dir/index.json"
rm -rf "$tmp"
