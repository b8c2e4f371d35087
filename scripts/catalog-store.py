#!/usr/bin/env python3
# A store of N repositories in distribution's layout, written directly:
# each with a shared layer and config, its own manifest and a tag "latest".
#   python3 scripts/catalog-store.py ROOT N
import hashlib, json, os, sys
root = sys.argv[1]; n = int(sys.argv[2])
v2 = os.path.join(root, "docker/registry/v2")
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    d = os.path.join(v2, "blobs/sha256", h[:2], h)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "data"), "wb") as f: f.write(data)
    return h
def link(path, h):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "link"), "w") as f: f.write("sha256:" + h)
layer = blob(os.urandom(4096)); config = blob(b'{"architecture":"amd64","os":"linux"}')
for i in range(n):
    repo = os.path.join(v2, "repositories", f"team{i%100}/app{i}")
    m = json.dumps({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:"+config,"size":37},
        "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:"+layer,"size":4096}],
        "annotations":{"repo":str(i)}}).encode()
    mh = blob(m)
    for h in (layer, config): link(os.path.join(repo, "_layers/sha256", h), h)
    link(os.path.join(repo, "_manifests/revisions/sha256", mh), mh)
    link(os.path.join(repo, "_manifests/tags/latest/current"), mh)
    link(os.path.join(repo, "_manifests/tags/latest/index/sha256", mh), mh)
