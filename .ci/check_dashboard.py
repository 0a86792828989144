#!/usr/bin/env python3
"""Sanity checks for trolley's Grafana dashboards (and, optionally, Prometheus rules).

    python3 .ci/check_dashboard.py --metrics FILE_OR_URL deploy/grafana/dashboards/trolley.json [deploy/prometheus/alerts.yml ...]

--metrics is a scrape of a running trolley's admin port /metrics (a file, or the
URL itself); .ci/observability-checks.sh starts one and passes its scrape.

For a dashboard (*.json) it checks that the file is JSON Grafana can import: a uid,
a title, a schemaVersion, a `datasource` template variable of type prometheus; every
panel has a unique id and a gridPos inside the 24-column grid without overlaps; every
non-row panel queries `${datasource}`; every target has an expr and a unique refId.

For every PromQL expression (panel targets, template variable queries, and the `expr`
of rules in *.yml/*.yaml files) it checks that each metric is in the scrape (a
histogram's _bucket, _sum and _count series) or is `up`, that each label used in a
matcher, a grouping or a legend is one of that metric's labels in the scrape (or
job/instance), that the values matched (`=`, `!=`, and each alternative of a plain
`a|b|c` regex) are values the scrape has, except for the free-form labels listed
below, that every function is a PromQL function and every `$variable` is defined.
So a renamed metric or a typo fails CI here instead of showing an empty panel or a
silent alert.

Standard library only, except that rule files need PyYAML (skipped with a note if absent).
Exit status: 0 when clean, 1 when any problem was found, 2 on bad usage.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# --------------------------------------------------------------------------- facts
# What trolley exports is read from a real scrape of its admin port's /metrics
# (--metrics): every metric name there (a histogram as its _bucket, _sum and _count
# series), its label names and the label values seen. trolley registers its
# enumerated series at 0 when it starts (outcomes, kinds, operations, states), so
# those values are all there.
#
# Labels whose values the scrape cannot list, so any value is accepted: what a
# request or a build brings (HTTP method, route, status; the version and git sha),
# the Redis commands run so far, the gRPC methods and codes (the known ones plus
# whatever a client calls), and histogram bucket bounds.
FREE_FORM_LABELS = {
    "http_request_method", "http_route", "http_response_status_code",
    "grpc_method", "grpc_code", "version", "git_sha", "le",
}
# (metric, label) pairs free-form only on that metric (histograms by their base name).
FREE_FORM_METRIC_LABELS = {("trolley_redis_command_duration_seconds", "operation")}
# Series Prometheus makes itself, with the labels it gives them.
PROMETHEUS_SERIES: dict[str, dict[str, set[str]]] = {"up": {}}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


class Metrics:
    """The facts of one scrape: series name -> label -> values seen."""

    def __init__(self, text: str):
        self.series: dict[str, dict[str, set[str]]] = {}
        self.histograms: set[str] = set()
        self.problems: list[str] = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE" and parts[3] == "histogram":
                    self.histograms.add(parts[2])
                continue
            sample = SAMPLE.match(line)
            if not sample:
                self.problems.append(f"line {number}: not a sample: {line!r}")
                continue
            labels = self.series.setdefault(sample.group(1), {})
            for name, value in LABEL_PAIR.findall(sample.group(2) or ""):
                labels.setdefault(name, set()).add(unescape(value))
        for name, labels in PROMETHEUS_SERIES.items():
            self.series.setdefault(name, labels)

    def base(self, metric: str) -> str:
        """A histogram series' histogram name (itself for any other series)."""
        for suffix in HISTOGRAM_SUFFIXES:
            if metric.endswith(suffix) and metric[: -len(suffix)] in self.histograms:
                return metric[: -len(suffix)]
        return metric

    def free_form(self, metric: str, label: str) -> bool:
        return label in FREE_FORM_LABELS or (self.base(metric), label) in FREE_FORM_METRIC_LABELS

    def all_labels(self) -> set[str]:
        return TARGET_LABELS | {label for labels in self.series.values() for label in labels}


SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+\S+(?:\s+\S+)?$")
LABEL_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def read_metrics(source: str) -> str:
    """The text of a scrape: a file, or fetched from an http(s) URL."""
    if source.startswith(("http://", "https://")):
        from urllib.request import urlopen

        with urlopen(source, timeout=10) as answer:
            return answer.read().decode("utf-8")
    return Path(source).read_text(encoding="utf-8")


# A plain alternation of literal values (`a|b|c`): each alternative is checked.
PLAIN_ALTERNATION = re.compile(r"[A-Za-z0-9_:-]+(?:\|[A-Za-z0-9_:-]+)*")

PROMQL_FUNCTIONS = {
    # aggregations
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp",
    "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters", "double_exponential_smoothing",
    "hour", "idelta", "increase", "irate", "label_join", "label_replace", "ln", "log2", "log10",
    "minute", "month", "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort",
    "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "time", "timestamp", "vector", "year",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time", "mad_over_time",
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh",
    "deg", "rad", "pi",
}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
GRAFANA_BUILTIN_VARS = {
    "__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
    "__dashboard", "__from", "__to", "__all",
}
GRID_WIDTH = 24
DATASOURCE_UIDS = {"${datasource}", "$datasource"}

IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
VAR = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)")


# ------------------------------------------------------------------------- PromQL
class PromQLScan:
    """A small scanner that pulls metric names, label matchers, label lists,
    function calls and Grafana variables out of a PromQL expression. It is not
    a parser: it only needs to find names, not to understand the expression."""

    def __init__(self, expr: str):
        self.metrics: list[str] = []
        self.matchers: list[tuple[str | None, str, str, str]] = []  # (metric, label, op, value)
        self.label_lists: list[str] = []
        self.functions: list[str] = []
        self.variables: set[str] = set()
        self.problems: list[str] = []
        self._scan(expr)

    def _vars(self, text: str) -> None:
        for m in VAR.finditer(text):
            self.variables.add(m.group(1) or m.group(2))

    def _string(self, s: str, i: int) -> tuple[str, int]:
        quote, j, out = s[i], i + 1, []
        while j < len(s) and s[j] != quote:
            if s[j] == "\\" and quote != "`" and j + 1 < len(s):
                out.append(s[j : j + 2])
                j += 2
                continue
            out.append(s[j])
            j += 1
        if j >= len(s):
            self.problems.append("unterminated string literal")
        return "".join(out), j + 1

    def _closing(self, s: str, i: int, open_c: str, close_c: str) -> int:
        depth, j = 0, i
        while j < len(s):
            c = s[j]
            if c in "\"'`":
                _, j = self._string(s, j)
                continue
            if c == open_c:
                depth += 1
            elif c == close_c:
                depth -= 1
                if depth == 0:
                    return j
            j += 1
        self.problems.append(f"unbalanced '{open_c}'")
        return len(s) - 1

    def _matchers(self, metric: str | None, body: str) -> None:
        pos = 0
        pat = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*")
        while pos < len(body):
            if body[pos:].strip() == "":
                break
            m = pat.match(body, pos)
            if not m:
                self.problems.append(f"cannot read label matchers {{{body}}}")
                return
            pos = m.end()
            if pos >= len(body) or body[pos] not in "\"'`":
                self.problems.append(f"label {m.group(1)} is not matched against a string")
                return
            value, pos = self._string(body, pos)
            self._vars(value)
            self.matchers.append((metric, m.group(1), m.group(2), value))
            rest = body[pos:].lstrip()
            if rest.startswith(","):
                pos = len(body) - len(rest) + 1
            else:
                pos = len(body) - len(rest)

    def _scan(self, s: str) -> None:
        i, last_metric = 0, None
        while i < len(s):
            c = s[i]
            if c.isspace():
                i += 1
            elif c == "#":  # comment to end of line
                nl = s.find("\n", i)
                i = len(s) if nl < 0 else nl + 1
            elif c in "\"'`":
                _, i = self._string(s, i)
            elif c == "$":
                m = VAR.match(s, i)
                if not m:
                    self.problems.append(f"stray '$' at {i}")
                    i += 1
                    continue
                self.variables.add(m.group(1) or m.group(2))
                i = m.end()
            elif c == "[":
                j = self._closing(s, i, "[", "]")
                self._vars(s[i : j + 1])
                i = j + 1
            elif c == "{":
                j = self._closing(s, i, "{", "}")
                self._matchers(last_metric, s[i + 1 : j])
                last_metric = None
                i = j + 1
            elif c.isdigit() or (c == "." and i + 1 < len(s) and s[i + 1].isdigit()):
                m = re.compile(r"[0-9.]+(?:[eE][+-]?[0-9]+)?[A-Za-z0-9]*").match(s, i)
                i = m.end()
            elif IDENT.match(s, i):
                m = IDENT.match(s, i)
                name, i = m.group(0), m.end()
                k = i
                while k < len(s) and s[k].isspace():
                    k += 1
                follows_paren = k < len(s) and s[k] == "("
                # `sum by (job) (…)`: an aggregation whose modifier comes first
                nxt = IDENT.match(s, k)
                if nxt and nxt.group(0).lower() in ("by", "without") and name in PROMQL_FUNCTIONS:
                    follows_paren = True
                low = name.lower()
                if low in LABEL_LIST_KEYWORDS:
                    if follows_paren:
                        j = self._closing(s, k, "(", ")")
                        for lbl in s[k + 1 : j].split(","):
                            if lbl.strip():
                                self.label_lists.append(lbl.strip())
                        i = j + 1
                    last_metric = None
                elif low in KEYWORDS:
                    last_metric = None
                elif follows_paren:
                    self.functions.append(name)
                    last_metric = None
                else:
                    self.metrics.append(name)
                    k2 = k
                    last_metric = name if k2 < len(s) and s[k2] == "{" else None
            else:
                i += 1


def check_expr(expr: str, where: str, defined_vars: set[str] | None, metrics: Metrics) -> list[str]:
    """Problems with one PromQL expression; defined_vars None means 'no Grafana variables allowed'."""
    out: list[str] = []
    scan = PromQLScan(expr)
    out += [f"{where}: {p}" for p in scan.problems]
    if not scan.metrics:
        out.append(f"{where}: expression names no metric: {expr!r}")
    for metric in scan.metrics:
        if metric not in metrics.series:
            out.append(f"{where}: unknown metric {metric!r} (not in trolley's /metrics)")
    for fn in scan.functions:
        if fn not in PROMQL_FUNCTIONS:
            out.append(f"{where}: unknown PromQL function {fn!r}")
    used_labels: set[str] = set()
    for metric in scan.metrics:
        used_labels |= set(metrics.series.get(metric, {}))
    used_labels |= TARGET_LABELS
    for metric, label, op, value in scan.matchers:
        if metric is None:  # bare {…} selector: only __name__ makes sense
            if label == "__name__":
                continue
            out.append(f"{where}: selector without a metric name ({label}{op}{value!r})")
            continue
        if label == "__name__":
            continue
        labels = metrics.series.get(metric)
        if labels is None:
            continue  # already reported as unknown metric
        if label in TARGET_LABELS:
            continue
        if label not in labels:
            out.append(f"{where}: metric {metric} has no label {label!r} (has: {sorted(set(labels) | TARGET_LABELS)})")
            continue
        if metrics.free_form(metric, label) or "$" in value:
            continue
        if op in ("=", "!="):
            wanted = [value]
        elif PLAIN_ALTERNATION.fullmatch(value):  # =~ / !~ "a|b|c"
            wanted = value.split("|")
        else:
            continue  # a real regex: not checked
        for one in wanted:
            if one not in labels[label]:
                out.append(
                    f"{where}: {metric}{{{label}{op}{value!r}}}: trolley never emits {label}={one!r}"
                    f" (one of {sorted(labels[label])})"
                )
    for label in scan.label_lists:
        if label not in used_labels:
            out.append(f"{where}: grouping by {label!r}, which none of the expression's metrics carries")
    if defined_vars is None:
        for var in sorted(scan.variables):
            out.append(f"{where}: Grafana variable ${var} in a non-dashboard expression")
    else:
        for var in sorted(scan.variables - defined_vars - GRAFANA_BUILTIN_VARS):
            out.append(f"{where}: variable ${var} is not defined in templating")
    return out


# ---------------------------------------------------------------------- dashboard
def iter_panels(panels):
    for p in panels or []:
        yield p
        if p.get("type") == "row":
            yield from iter_panels(p.get("panels"))


def datasource_ok(ds) -> bool:
    return isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") in DATASOURCE_UIDS


def check_dashboard(path: Path, metrics: Metrics) -> list[str]:
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return [f"{path}: not valid JSON: {err}"]
    out: list[str] = []
    if not isinstance(dash, dict):
        return [f"{path}: top level is not an object"]
    for key in ("uid", "title"):
        if not isinstance(dash.get(key), str) or not dash[key]:
            out.append(f"{path}: missing {key}")
    if not isinstance(dash.get("schemaVersion"), int):
        out.append(f"{path}: missing integer schemaVersion")
    if dash.get("id") not in (None,):
        out.append(f"{path}: top-level id must be null so the dashboard imports anywhere")

    variables = (dash.get("templating") or {}).get("list") or []
    names = {v.get("name") for v in variables if isinstance(v, dict)}
    ds_vars = [v for v in variables if v.get("name") == "datasource"]
    if not ds_vars or ds_vars[0].get("type") != "datasource" or ds_vars[0].get("query") != "prometheus":
        out.append(f"{path}: needs a template variable 'datasource' of type datasource, query prometheus")
    for v in variables:
        if v.get("type") != "query":
            continue
        where = f"{path}: variable ${v.get('name')}"
        if not datasource_ok(v.get("datasource")):
            out.append(f"{where}: datasource must be ${{datasource}}")
        query = v.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if not isinstance(query, str) or not query:
            out.append(f"{where}: no query")
            continue
        lv = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query, re.S)
        if lv:
            selector, label = lv.group(1), lv.group(2)
            out += check_expr(selector, where, names, metrics)
            metric = IDENT.match(selector.strip())
            series = metrics.series.get(metric.group(0)) if metric else None
            if series is not None and label not in set(series) | TARGET_LABELS:
                out.append(f"{where}: {metric.group(0)} has no label {label!r}")
        else:
            out += check_expr(query, where, names, metrics)

    panels = dash.get("panels")
    if not isinstance(panels, list) or not panels:
        out.append(f"{path}: no panels")
        return out
    ids: set[int] = set()
    boxes: list[tuple[str, int, int, int, int]] = []
    for p in iter_panels(panels):
        title = p.get("title") or "(untitled)"
        where = f"{path}: panel {p.get('id')} {title!r}"
        pid = p.get("id")
        if not isinstance(pid, int) or isinstance(pid, bool):
            out.append(f"{where}: id must be an integer")
        elif pid in ids:
            out.append(f"{where}: duplicate id {pid}")
        else:
            ids.add(pid)
        grid = p.get("gridPos")
        if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in "hwxy"):
            out.append(f"{where}: gridPos needs integer h, w, x, y")
        else:
            h, w, x, y = (grid[k] for k in "hwxy")
            if h <= 0 or w <= 0 or x < 0 or y < 0 or x + w > GRID_WIDTH:
                out.append(f"{where}: gridPos {grid} is outside the {GRID_WIDTH}-column grid")
            for other, ox, oy, ow, oh in boxes:
                if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                    out.append(f"{where}: overlaps panel {other!r}")
            boxes.append((title, x, y, w, h))
        if p.get("type") == "row":
            if p.get("targets"):
                out.append(f"{where}: a row has no queries")
            continue
        if not p.get("type"):
            out.append(f"{where}: no type")
        if not datasource_ok(p.get("datasource")):
            out.append(f"{where}: datasource must be {{type: prometheus, uid: ${{datasource}}}}, got {p.get('datasource')!r}")
        if p.get("type") in ("timeseries", "stat", "gauge", "bargauge"):
            unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
            if not unit:
                out.append(f"{where}: fieldConfig.defaults.unit is not set")
        targets = p.get("targets")
        if not isinstance(targets, list) or not targets:
            out.append(f"{where}: no targets")
            continue
        ref_ids: set[str] = set()
        for t in targets:
            ref = t.get("refId")
            twhere = f"{where} target {ref}"
            if not isinstance(ref, str) or not ref:
                out.append(f"{twhere}: missing refId")
            elif ref in ref_ids:
                out.append(f"{twhere}: duplicate refId")
            else:
                ref_ids.add(ref)
            if "datasource" in t and not datasource_ok(t["datasource"]):
                out.append(f"{twhere}: datasource must be ${{datasource}}")
            if t.get("hide"):
                continue
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                out.append(f"{twhere}: missing expr")
                continue
            out += check_expr(expr, twhere, names, metrics)
            legend = t.get("legendFormat") or ""
            for lbl in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend):
                if lbl not in metrics.all_labels():
                    out.append(f"{twhere}: legendFormat uses unknown label {lbl!r}")
    return out


# -------------------------------------------------------------------------- rules
def check_rules(path: Path, metrics: Metrics) -> list[str]:
    try:
        import yaml  # type: ignore
    except ImportError:
        print(f"note: PyYAML not installed, metric names in {path} not checked (promtool still checks the syntax)")
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        return [f"{path}: not valid YAML: {err}"]
    out: list[str] = []
    groups = (doc or {}).get("groups") or []
    if not groups:
        out.append(f"{path}: no rule groups")
    for group in groups:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record") or "(unnamed)"
            where = f"{path}: {name}"
            out += check_expr(str(rule.get("expr", "")), where, None, metrics)
            if rule.get("alert"):
                ann = rule.get("annotations") or {}
                for key in ("summary", "description"):
                    if not ann.get(key):
                        out.append(f"{where}: annotation {key} missing")
                if not (ann.get("runbook") or ann.get("runbook_url")):
                    out.append(f"{where}: annotation runbook or runbook_url missing")
                if not (rule.get("labels") or {}).get("severity"):
                    out.append(f"{where}: label severity missing")
    return out


def main(argv: list[str]) -> int:
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 2 if not argv else 0
    if len(argv) < 3 or argv[0] != "--metrics":
        print("usage: check_dashboard.py --metrics FILE_OR_URL DASHBOARD.json|RULES.yml...", file=sys.stderr)
        return 2
    source, files = argv[1], argv[2:]
    try:
        metrics = Metrics(read_metrics(source))
    except (OSError, ValueError) as err:
        print(f"error: cannot read the scrape {source}: {err}", file=sys.stderr)
        return 1
    problems = [f"{source}: {p}" for p in metrics.problems]
    if not any(name.startswith("trolley_") for name in metrics.series):
        problems.append(f"{source}: no trolley_ metric: not a scrape of trolley's /metrics")
    for arg in files:
        path = Path(arg)
        if not path.is_file():
            problems.append(f"{path}: no such file")
        elif path.suffix == ".json":
            problems += check_dashboard(path, metrics)
        elif path.suffix in (".yml", ".yaml"):
            problems += check_rules(path, metrics)
        else:
            problems.append(f"{path}: expected a .json dashboard or a .yml rules file")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        print(f"check_dashboard: {len(problems)} problem(s) in {', '.join(files)}", file=sys.stderr)
        return 1
    print(f"check_dashboard: OK ({', '.join(files)}; {len(metrics.series)} series names in {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
