#!/usr/bin/env bash
# Type-checks every dashboard in deploy/grafana/dashboards/ against Grafana's
# own TypeScript types (@grafana/schema, pinned to the Grafana of
# docker-compose.yml) with `tsc --strict`. Each dashboard is inlined as a
# `Dashboard` literal: importing the .json widens its string literals (e.g.
# "timeseries" to string) and would reject valid dashboards. The schema's
# string enums (ThresholdsMode.Absolute = "absolute") become their values,
# which is what a JSON file holds (as-json.ts).
#
#   bash deploy/grafana/typecheck/check.sh     (needs node and npm)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
command -v npm >/dev/null || { echo "check.sh: npm not found (apt-get install npm)" >&2; exit 1; }
if [[ ! -x node_modules/.bin/tsc ]]; then
    timeout 300 npm ci --no-audit --no-fund --silent >/dev/null ||
        { echo "check.sh: npm ci failed (is the npm registry reachable?)" >&2; exit 1; }
fi
gen=$(mktemp -d "$here/gen.XXXXXX")
trap 'rm -rf "$gen"' EXIT
for f in ../dashboards/*.json; do
    name=$(basename "$f" .json)
    { printf "import type { Dashboard } from '@grafana/schema';\nimport type { AsJson } from '../as-json';\n\nexport const dashboard: AsJson<Dashboard> = "
      cat "$f"
      printf ';\n'; } >"$gen/${name//[^A-Za-z0-9_]/_}.ts"
done
node_modules/.bin/tsc --strict --noEmit --target es2020 --moduleResolution node \
    "$gen"/*.ts
echo "check.sh: $(find "$gen" -name '*.ts' | wc -l) dashboard(s) type-check against @grafana/schema $(node -p 'require("@grafana/schema/package.json").version')"
