#!/usr/bin/env bash
# Checks of trolley's OpenAPI document, which is generated from the code
# (utoipa annotations on the handlers; served at GET /api/openapi.json and printed
# by `trolley openapi`):
#   1. openapi-spec-validator: the document is valid OpenAPI 3.1
#      (installed with pip when missing)
#   2. every example in it (schemas, request and response bodies) validates
#      against its schema
# That every route is documented is a test (tests/api/contract.rs).
# Usage: bash .ci/check_openapi.sh   (from anywhere; builds the binary if needed)
# PYTHON selects the interpreter (default python3).
set -euo pipefail

cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SPEC=$(mktemp --suffix=.json)
trap 'rm -f "$SPEC"' EXIT

fail() {
  echo "check_openapi: $*" >&2
  exit 1
}

command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found (set PYTHON=…)"
cargo run --quiet -- openapi >"$SPEC" || fail "trolley openapi failed"

if ! "$PYTHON" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
  echo "check_openapi: installing openapi-spec-validator (pip)"
  "$PYTHON" -m pip install --quiet openapi-spec-validator ||
    fail "pip install openapi-spec-validator failed"
fi

echo "check_openapi: openapi-spec-validator (the generated document)"
"$PYTHON" -m openapi_spec_validator "$SPEC" || fail "the generated document is not valid OpenAPI"

echo "check_openapi: examples vs. schemas"
"$PYTHON" - "$SPEC" <<'PY'
import json
import sys

from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

spec_path = sys.argv[1]
with open(spec_path, encoding="utf-8") as f:
    spec = json.load(f)
problems = []
METHODS = ("get", "post", "put", "delete", "patch")
spec_paths = spec.get("paths") or {}

# --- 2. examples ↔ schemas ----------------------------------------------------
registry = Registry().with_resource(
    "urn:trolley-openapi", Resource.from_contents(spec, default_specification=DRAFT202012)
)


def absolute_refs(node):
    if isinstance(node, dict):
        return {
            k: ("urn:trolley-openapi" + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else absolute_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [absolute_refs(x) for x in node]
    return node


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for key in node["$ref"].lstrip("#/").split("/"):
            target = target[key]
        node = target
    return node


checked = 0


def check_media(where, media):
    global checked
    schema = media.get("schema")
    if schema is None:
        return
    examples = []
    if "example" in media:
        examples.append(("example", media["example"]))
    for name, example in (media.get("examples") or {}).items():
        example = deref(example)
        if "value" in example:
            examples.append((name, example["value"]))
    validator = OAS31Validator(absolute_refs(schema), registry=registry)
    for name, value in examples:
        checked += 1
        for error in validator.iter_errors(value):
            problems.append(f"{where}: example {name!r} does not match its schema: {error.message}")


for path, item in spec_paths.items():
    for method, operation in item.items():
        if method not in METHODS:
            continue
        body = deref(operation.get("requestBody") or {})
        for media_type, media in (body.get("content") or {}).items():
            check_media(f"{method.upper()} {path} request {media_type}", media)
        for status, response in (operation.get("responses") or {}).items():
            for media_type, media in (deref(response).get("content") or {}).items():
                check_media(f"{method.upper()} {path} {status} {media_type}", media)

for name, schema in ((spec.get("components") or {}).get("schemas") or {}).items():
    if "example" in schema:
        check_media(f"components.schemas.{name}", {"schema": {"$ref": f"#/components/schemas/{name}"}, "example": schema["example"]})

if problems:
    print(f"check_openapi: {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    sys.exit(1)
print(f"check_openapi: {len(spec_paths)} paths; {checked} examples match their schemas")
PY

echo "check_openapi: OK"
