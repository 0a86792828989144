#!/usr/bin/env python3
"""Checks on the trolley Helm chart, run by .ci/deploy-checks.sh.

  check_manifests.py render RENDERED.yaml [--values FILE]
      Parse the output of `helm template` and assert what must hold for every
      configuration: probes on the admin port, the hardened security context,
      resources, a grace period longer than preStop + drain, and the Redis URL
      and password wiring that the values (chart defaults merged with FILE)
      ask for.

  check_manifests.py readme CHART_DIR
      Every value in values.yaml is listed in README.md's values table (a
      value counts as listed when it or one of its parents is: probes and
      security contexts are documented as a whole), and the table names no key
      that values.yaml lacks.

Exit status 1 with one line per failed assertion.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "helm" / "trolley"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"


class Checker:
    def __init__(self, label: str) -> None:
        self.label = label
        self.failures: list[str] = []

    def check(self, ok: object, message: str) -> bool:
        if not ok:
            self.failures.append(f"{self.label}: {message}")
        return bool(ok)


def deep_merge(base: dict, override: dict) -> dict:
    """Helm's value merge: maps merge recursively, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_values(values_file: str | None) -> dict:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    if values_file:
        values = deep_merge(values, yaml.safe_load(Path(values_file).read_text()) or {})
    return values


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    if not match:
        raise ValueError(f"expected a duration in whole seconds, got {duration!r}")
    return int(match.group(1))


def by_kind(docs: list[dict]) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def check_render(rendered: Path, values_file: str | None) -> list[str]:
    values = load_values(values_file)
    c = Checker(f"{rendered.name}")
    docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    kinds = by_kind(docs)

    for doc in docs:
        labels = doc.get("metadata", {}).get("labels", {})
        c.check(
            labels.get("app.kubernetes.io/name") and labels.get("app.kubernetes.io/instance"),
            f"{doc['kind']} {doc['metadata'].get('name')} lacks the app.kubernetes.io name/instance labels",
        )

    if not c.check(len(kinds.get("Deployment", [])) == 1, "expected exactly one Deployment"):
        return c.failures
    deployment = kinds["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    c.check(all(pod_labels.get(k) == v for k, v in selector.items()), "Deployment selector does not match its pod labels")

    containers = {ct["name"]: ct for ct in pod["containers"]}
    if not c.check("trolley" in containers, "no container named trolley"):
        return c.failures
    ct = containers["trolley"]

    # --- ports and probes: probes only on the admin port, never the public one.
    ports = {p["name"]: p["containerPort"] for p in ct.get("ports", [])}
    c.check(ports.get("http") == values["containerPorts"]["http"], f"http containerPort is {ports.get('http')}")
    c.check(ports.get("admin") == values["containerPorts"]["admin"], f"admin containerPort is {ports.get('admin')}")
    c.check(ports.get("http") != ports.get("admin"), "public and admin ports must differ")
    admin_refs = {"admin", ports.get("admin")}
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        spec = ct.get(probe)
        if c.check(spec and "httpGet" in spec, f"{probe} missing or not an httpGet probe"):
            c.check(spec["httpGet"].get("path") == path, f"{probe} path is {spec['httpGet'].get('path')}, want {path}")
            c.check(spec["httpGet"].get("port") in admin_refs, f"{probe} is on port {spec['httpGet'].get('port')}, not admin")
    if ct.get("startupProbe"):
        c.check(ct["startupProbe"].get("httpGet", {}).get("port") in admin_refs, "startupProbe not on the admin port")

    # --- security context (pod and container).
    psc = pod.get("securityContext", {})
    csc = ct.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, "runAsNonRoot is not true")
    c.check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    c.check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    c.check("ALL" in (csc.get("capabilities", {}).get("drop") or []), "capabilities.drop lacks ALL")
    seccomp = csc.get("seccompProfile") or psc.get("seccompProfile") or {}
    c.check(seccomp.get("type") == "RuntimeDefault", "seccompProfile is not RuntimeDefault")
    c.check(pod.get("automountServiceAccountToken") is False, "service account token is mounted")

    # --- resources.
    res = ct.get("resources", {})
    c.check(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory"), "cpu/memory requests missing")
    c.check(res.get("limits", {}).get("memory"), "memory limit missing")

    # --- config: the ConfigMap the pod reads.
    config_maps = {cm["metadata"]["name"]: cm.get("data", {}) for cm in kinds.get("ConfigMap", [])}
    env_from = [e["configMapRef"]["name"] for e in ct.get("envFrom", []) if "configMapRef" in e]
    c.check(env_from and all(n in config_maps for n in env_from), f"envFrom ConfigMap(s) {env_from} not rendered")
    config: dict[str, str] = {}
    for name in env_from:
        config.update(config_maps.get(name, {}))
    env = {e["name"]: e for e in ct.get("env", [])}

    c.check(config.get("TROLLEY_LISTEN", "").endswith(f":{ports.get('http')}"), "TROLLEY_LISTEN does not match the http port")
    c.check(config.get("TROLLEY_ADMIN_LISTEN", "").endswith(f":{ports.get('admin')}"), "TROLLEY_ADMIN_LISTEN does not match the admin port")

    # --- graceful shutdown: preStop sleep + drain must fit in the grace period.
    prestop = ct.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    c.check(prestop == values["lifecycle"]["preStopSleepSeconds"], f"preStop sleep is {prestop}s")
    drain = seconds(config.get("TROLLEY_SHUTDOWN_TIMEOUT", "0s"))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    c.check(prestop + drain < grace, f"preStop {prestop}s + drain {drain}s does not fit terminationGracePeriodSeconds {grace}")

    # --- Redis wiring.
    redis = values["redis"]
    secrets = {s["metadata"]["name"]: s for s in kinds.get("Secret", [])}
    if redis.get("existingSecretUrlKey"):
        ref = env.get("TROLLEY_REDIS_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
        c.check(
            ref.get("name") == redis["existingSecret"] and ref.get("key") == redis["existingSecretUrlKey"],
            "TROLLEY_REDIS_URL is not taken from redis.existingSecret/existingSecretUrlKey",
        )
        c.check("TROLLEY_REDIS_URL" not in config, "TROLLEY_REDIS_URL also set in the ConfigMap")
    else:
        url = config.get("TROLLEY_REDIS_URL", "")
        c.check("@" not in url, f"TROLLEY_REDIS_URL carries credentials into a ConfigMap: {url}")
        if redis.get("url"):
            c.check(url == redis["url"], f"TROLLEY_REDIS_URL {url!r} is not redis.url")
        else:
            scheme = "rediss" if redis.get("tls") else "redis"
            mode = redis["mode"]
            if mode == "standalone":
                want = f"{scheme}://{redis['standalone']['host']}:{redis['standalone']['port']}/{redis['database']}"
                c.check(url == want, f"standalone URL is {url!r}, want {want!r}")
            elif mode == "sentinel":
                c.check(url.startswith(f"{scheme}-sentinel://"), f"sentinel URL has the wrong scheme: {url!r}")
                c.check(f"sentinelServiceName={redis['sentinel']['masterName']}" in url, f"sentinel URL lacks the master name: {url!r}")
                c.check(f"/{redis['database']}?" in url, f"sentinel URL lacks database {redis['database']}: {url!r}")
                for host in redis["sentinel"]["hosts"]:
                    c.check(host in url, f"sentinel URL lacks {host}")
            elif mode == "cluster":
                c.check(url.startswith(f"{scheme}-cluster://"), f"cluster URL has the wrong scheme: {url!r}")
                for node in redis["cluster"]["nodes"]:
                    c.check(node in url, f"cluster URL lacks {node}")
            else:
                c.check(False, f"unknown redis.mode {mode!r}")

    password_ref = env.get("TROLLEY_REDIS_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef")
    key = redis["existingSecretPasswordKey"]
    if redis.get("existingSecret"):
        c.check(
            password_ref == {"name": redis["existingSecret"], "key": key},
            f"TROLLEY_REDIS_PASSWORD does not come from {redis['existingSecret']}/{key}: {password_ref}",
        )
        c.check(not secrets, f"the chart must not create a Secret when existingSecret is set: {list(secrets)}")
    elif redis.get("password"):
        if c.check(password_ref, "TROLLEY_REDIS_PASSWORD not wired from a Secret"):
            secret = secrets.get(password_ref["name"])
            if c.check(secret, f"Secret {password_ref['name']} is not rendered"):
                c.check(key in secret.get("data", {}), f"Secret {password_ref['name']} lacks key {key}")
        c.check("TROLLEY_REDIS_PASSWORD" not in config, "the Redis password is in the ConfigMap")
    else:
        c.check(password_ref is None, "TROLLEY_REDIS_PASSWORD wired although no password is configured")
    for name, value in config.items():
        c.check("PASSWORD" not in name, f"ConfigMap holds a secret-looking key {name}")

    # --- Service: public and admin ports, selecting the pods.
    services = kinds.get("Service", [])
    if c.check(len(services) == 1, "expected exactly one Service"):
        svc = services[0]
        svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
        c.check(svc_ports.get("http", {}).get("targetPort") == "http", "Service has no http port targeting http")
        c.check(svc_ports.get("admin", {}).get("targetPort") == "admin", "Service has no admin port targeting admin")
        c.check(all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selector does not match the pods")

    # --- Scaling and disruption.
    hpas = kinds.get("HorizontalPodAutoscaler", [])
    if values["autoscaling"]["enabled"]:
        if c.check(len(hpas) == 1, "autoscaling enabled but no HPA"):
            ref = hpas[0]["spec"]["scaleTargetRef"]
            c.check(ref["kind"] == "Deployment" and ref["name"] == deployment["metadata"]["name"], "HPA targets another object")
        c.check("replicas" not in deployment["spec"], "Deployment sets replicas although the HPA owns them")
    else:
        c.check(not hpas, "HPA rendered although autoscaling is disabled")
        c.check(deployment["spec"].get("replicas") == values["replicaCount"], "Deployment replicas != replicaCount")
    if values["podDisruptionBudget"]["enabled"]:
        pdbs = kinds.get("PodDisruptionBudget", [])
        if c.check(len(pdbs) == 1, "no PodDisruptionBudget"):
            c.check(pdbs[0]["spec"]["selector"]["matchLabels"] == selector, "PDB selector differs from the Deployment's")
    c.check(pod.get("topologySpreadConstraints"), "no topologySpreadConstraints")

    # --- Monitoring objects.
    monitors = kinds.get("ServiceMonitor", [])
    if values["metrics"]["serviceMonitor"]["enabled"]:
        if c.check(len(monitors) == 1, "serviceMonitor enabled but not rendered"):
            endpoints = monitors[0]["spec"]["endpoints"]
            c.check(endpoints and all(e.get("port") == "admin" for e in endpoints), "ServiceMonitor does not scrape the admin port")
    rules = kinds.get("PrometheusRule", [])
    if values["metrics"]["prometheusRule"]["enabled"]:
        if c.check(len(rules) == 1, "prometheusRule enabled but not rendered"):
            want = yaml.safe_load(ALERTS.read_text())["groups"]
            c.check(rules[0]["spec"]["groups"] == want, f"PrometheusRule groups differ from {ALERTS.relative_to(REPO)}")

    if values["ingress"]["enabled"]:
        ingresses = kinds.get("Ingress", [])
        if c.check(len(ingresses) == 1, "ingress enabled but not rendered"):
            for rule in ingresses[0]["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    c.check(path["backend"]["service"]["port"].get("name") == "http", "Ingress routes to a port other than http")
    return c.failures


def value_paths(node: object, prefix: str = "") -> tuple[list[str], set[str]]:
    """(leaves, every key) of values.yaml as dotted paths. A leaf is a value
    that is not a non-empty map: scalars, lists, {} and null."""
    leaves: list[str] = []
    known: set[str] = set()
    for key, child in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        known.add(path)
        if isinstance(child, dict) and child:
            child_leaves, child_known = value_paths(child, path)
            leaves.extend(child_leaves)
            known |= child_known
        else:
            leaves.append(path)
    return leaves, known


def check_readme(chart: Path) -> list[str]:
    c = Checker(f"{chart.name}/README.md")
    values = yaml.safe_load((chart / "values.yaml").read_text())
    readme = (chart / "README.md").read_text()
    # The table under the "## Values" heading, up to the next heading.
    section = re.search(r"^## Values\s*$(.*?)(?=^#|\Z)", readme, flags=re.M | re.S)
    if not c.check(section, 'no "## Values" section'):
        return c.failures
    documented = set(re.findall(r"^\|\s*`([^`]+)`\s*\|", section.group(1), flags=re.M))
    leaves, known = value_paths(values)
    for path in leaves:
        parts = path.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        c.check(ancestors & documented, f"value {path} is not in the values table")
    for key in sorted(documented):
        c.check(key in known, f"values table lists {key}, which values.yaml does not have")
    return c.failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render")
    render.add_argument("rendered", type=Path)
    render.add_argument("--values")
    readme = sub.add_parser("readme")
    readme.add_argument("chart", type=Path)
    args = parser.parse_args()

    if args.command == "render":
        failures = check_render(args.rendered, args.values)
        what = f"{args.rendered.name} ({args.values or 'default values'})"
    else:
        failures = check_readme(args.chart)
        what = f"{args.chart}/README.md values table"
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"ok   {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
