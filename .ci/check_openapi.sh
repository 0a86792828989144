#!/usr/bin/env bash
# Static checks of trolley's OpenAPI spec (docs/openapi.yaml):
#   1. openapi-spec-validator: the document is valid OpenAPI 3.1
#      (installed with pip when missing)
#   2. yamllint with the repository's .yamllint (skipped when yamllint is absent)
#   3. every route registered in src/http/routes.rs (public port) and src/http/admin.rs
#      (admin port) — `.route("…", get(…).delete(…))` — is a path of the spec with
#      the same methods, and the spec has no path the code does not serve
#   4. every example in the spec validates against its schema
# Usage: bash .ci/check_openapi.sh   (from anywhere; works on the repo root)
# PYTHON selects the interpreter (default python3).
set -euo pipefail

cd "$(dirname "$0")/.."

SPEC=docs/openapi.yaml
ROUTE_FILES=(src/http/routes.rs src/http/admin.rs)
PYTHON=${PYTHON:-python3}

fail() {
  echo "check_openapi: $*" >&2
  exit 1
}

[ -f "$SPEC" ] || fail "$SPEC not found"
command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found (set PYTHON=…)"

if ! "$PYTHON" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
  echo "check_openapi: installing openapi-spec-validator (pip)"
  "$PYTHON" -m pip install --quiet openapi-spec-validator ||
    fail "pip install openapi-spec-validator failed"
fi

echo "check_openapi: openapi-spec-validator $SPEC"
"$PYTHON" -m openapi_spec_validator "$SPEC" || fail "$SPEC is not a valid OpenAPI document"

if command -v yamllint >/dev/null 2>&1 && [ -f .yamllint ]; then
  echo "check_openapi: yamllint $SPEC"
  yamllint -c .yamllint "$SPEC" || fail "yamllint found problems in $SPEC"
else
  echo "check_openapi: yamllint or .yamllint missing; YAML style check skipped"
fi

echo "check_openapi: routes in ${ROUTE_FILES[*]} vs. paths in $SPEC; examples vs. schemas"
"$PYTHON" - "$SPEC" "${ROUTE_FILES[@]}" <<'PY'
import re
import sys

import yaml
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

spec_path, route_files = sys.argv[1], sys.argv[2:]
with open(spec_path, encoding="utf-8") as f:
    spec = yaml.safe_load(f)
problems = []

# --- 1. routes in the code ↔ paths and methods in the spec -------------------
METHODS = ("get", "post", "put", "delete", "patch")
# `.route("/path", get(h).delete(h))`, possibly split over lines; the methods are
# the routing calls up to the next `.route(`, `.fallback` or `.with_state`.
ROUTE = re.compile(r'\.route\(\s*"([^"]+)"\s*,(.*?)(?=\.route\(|\.fallback|\.method_not_allowed_fallback|\.with_state|\Z)', re.S)
METHOD_CALL = re.compile(r'(?<![\w:])\.?(' + "|".join(METHODS) + r')\s*\(')
code_routes = {}
for route_file in route_files:
    with open(route_file, encoding="utf-8") as f:
        # Routes of unit tests (after #[cfg(test)]) are not served.
        source = f.read().split("#[cfg(test)]")[0]
    found = ROUTE.findall(source)
    if not found:
        problems.append(f"{route_file}: no .route(\"…\") found (did the routing code change shape?)")
    for path, handlers in found:
        methods = set(METHOD_CALL.findall(handlers))
        if not methods:
            problems.append(f"{route_file}: route {path}: no get/post/put/delete/patch handler recognised")
        code_routes.setdefault(path, set()).update(methods)

spec_paths = spec.get("paths") or {}
for path, methods in sorted(code_routes.items()):
    item = spec_paths.get(path)
    if item is None:
        problems.append(f"route {path} (in the code) is missing from {spec_path} paths")
        continue
    documented = {m for m in item if m in METHODS}
    for method in sorted(methods - documented):
        problems.append(f"{method.upper()} {path} is served but not documented in {spec_path}")
    for method in sorted(documented - methods):
        problems.append(f"{method.upper()} {path} is documented in {spec_path} but not served by the code")
for path in sorted(set(spec_paths) - set(code_routes)):
    problems.append(f"path {path} is in {spec_path} but in no .route(\"…\") of {', '.join(route_files)}")

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

if problems:
    print(f"check_openapi: {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    sys.exit(1)
print(
    f"check_openapi: {len(code_routes)} routes documented with their methods; "
    f"{checked} examples match their schemas"
)
PY

echo "check_openapi: OK"
