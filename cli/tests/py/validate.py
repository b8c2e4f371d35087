"""Validates rendered Kubernetes objects offline.

Built-in kinds: against the Kubernetes OpenAPI schemas bundled in the PyPI
package kubernetes-validate (strict: unknown fields are errors).
Application and SealedSecret: against the openAPIV3Schema of their CRDs
(shared/crds), with unknown fields made errors the same way.

usage: validate.py CRD_DIR FILE...   exit 1 with one line per problem.
"""
import sys

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSION = "1.37.0"


def strict(schema):
    """Closes every object schema that lists its properties."""
    if isinstance(schema, dict):
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


def crd_schemas(crd_dir):
    out = {}
    for name in ("application-crd.yaml", "sealedsecret-crd.yaml"):
        with open(f"{crd_dir}/{name}") as f:
            crd = yaml.safe_load(f)
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            schema = strict(v["schema"]["openAPIV3Schema"])
            # metadata is checked by the API server, not by the CRD schema.
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            out[(f"{group}/{v['name']}", kind)] = schema
    return out


def main():
    crds = crd_schemas(sys.argv[1])
    problems = []
    checked = 0
    for path in sys.argv[2:]:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for doc in docs:
            key = (doc.get("apiVersion"), doc.get("kind"))
            try:
                if key in crds:
                    jsonschema.validate(doc, crds[key])
                else:
                    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
                checked += 1
            except Exception as e:  # noqa: BLE001 - report every kind of failure
                msg = getattr(e, "message", None) or str(e)
                problems.append(f"{path}: {key[1]}: {msg.splitlines()[0]}")
    for p in problems:
        print(p)
    print(f"checked {checked} objects, {len(problems)} problems")
    sys.exit(1 if problems else 0)


main()
