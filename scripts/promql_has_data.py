"""Every PromQL expression of the dashboards and alert rules returns data.

Asks a live Prometheus (the stack of scripts/stack-smoke.sh after a k6 run)
to evaluate each expression and fails on any that returns an empty result or
an error: a renamed metric or label shows here, against the real exporter,
rather than against a list of names kept by hand.

Grafana variables take their "All" values ($job = trolley); $__rate_interval
becomes RATE_INTERVAL (default 1m). An alert rule's expression is a condition,
empty while all is well, so its comparisons are evaluated with `bool`
(`x > 0.05` becomes `x > bool 0.05`): what is asked is whether the series it
compares exist, not whether the alert fires.

    python3 scripts/promql_has_data.py http://127.0.0.1:9090 DASHBOARD.json… ALERTS.yml…
"""

import json
import os
import re
import sys
import urllib.parse
import urllib.request

import yaml

VARIABLES = {
    "$__rate_interval": os.environ.get("RATE_INTERVAL", "1m"),
    "$job": "trolley",
    "$instance": ".*",
    "$route": ".*",
}

# A comparison (with its `bool`, if it has one) outside label matchers and strings.
COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*bool\b)?")


def with_bool(expr):
    out, depth, quote = [], 0, None
    i = 0
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == "\\":
                out.append(expr[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
            out.append(c)
        elif c == "{":
            depth += 1
            out.append(c)
        elif c == "}":
            depth -= 1
            out.append(c)
        elif depth == 0 and (m := COMPARISON.match(expr, i)):
            out.append(m.group(1) + " bool")
            i = m.end()
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def dashboard_exprs(path):
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)

    def panels(items):
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"{path}: panel '{panel.get('title')}' {target.get('refId', '')}", target["expr"]


def rule_exprs(path):
    with open(path, encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule:
                yield f"{path}: alert {rule['alert']}", with_bool(rule["expr"])
            else:
                yield f"{path}: record {rule['record']}", rule["expr"]


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        return None, json.load(e).get("error", str(e))
    return body["data"]["result"], None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    base, files = sys.argv[1].rstrip("/"), sys.argv[2:]
    failures = total = 0
    for path in files:
        exprs = dashboard_exprs(path) if path.endswith(".json") else rule_exprs(path)
        for where, expr in exprs:
            for name in sorted(VARIABLES, key=len, reverse=True):
                expr = expr.replace(name, VARIABLES[name])
            total += 1
            result, error = query(base, expr)
            if error or not result:
                failures += 1
                print(f"NO DATA  {where}: {error or 'empty result'}\n         {' '.join(expr.split())}")
    print(f"promql_has_data: {total - failures} of {total} expressions returned data")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
