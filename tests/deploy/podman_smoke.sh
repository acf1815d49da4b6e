#!/usr/bin/env bash
# Smoke test of the container image, best effort: builds the Dockerfile's runtime stage
# around a binary CI has just built (default target/debug/storefront), on a base image
# made here from Debian packages with mmdebstrap (no registry images can be pulled here),
# runs it with podman (runc, explicit ulimits: tests/deploy/containers.conf), and checks
# /health from outside and the image's own HEALTHCHECK (`storefront healthcheck`) from
# inside. When podman cannot run containers on the machine at all, it says so and skips;
# once a container runs, every check must pass. The container and its storage
# (target/podman) are cleaned up on exit.
# Usage: bash tests/deploy/podman_smoke.sh [path/to/storefront]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

binary="${1:-target/debug/storefront}"
work=target/podman
base=localhost/storefront-base:bookworm
image=localhost/storefront-smoke:latest
name="storefront-smoke-$$"

skip() {
    echo "podman smoke test SKIPPED: $*"
    exit 0
}

[ -x "$binary" ] || { echo "no binary at $binary: build it first (cargo build --bin storefront)" >&2; exit 1; }

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v mmdebstrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing podman, runc and mmdebstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap >/dev/null \
            || skip "podman, runc or mmdebstrap could not be installed"
    else
        skip "podman, runc and mmdebstrap are not installed (Debian: apt-get install podman runc mmdebstrap)"
    fi
fi

export CONTAINERS_CONF="$PWD/tests/deploy/containers.conf"
mkdir -p "$work"
podman=(podman --root "$PWD/$work/storage" --runroot "$PWD/$work/run" --storage-driver vfs)

# The container and the smoke image go; the base image stays for the next run.
cleanup() {
    "${podman[@]}" rm -f "$name" >/dev/null 2>&1 || true
    "${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true
    "${podman[@]}" image prune -f >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The base: glibc and libgcc, the runtime's only needs (the binary carries its CA roots).
if ! "${podman[@]}" image exists "$base"; then
    echo "building $base with mmdebstrap (libc6, libgcc-s1 from Debian bookworm)"
    mmdebstrap --quiet --variant=extract --include=libc6,libgcc-s1 bookworm "$work/base.tar" \
        || skip "mmdebstrap could not build a base image"
    "${podman[@]}" import --quiet "$work/base.tar" "$base" >/dev/null
    rm -f "$work/base.tar"
fi

if ! "${podman[@]}" run --rm --network host "$base" /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --version >/dev/null 2>&1 \
    && ! "${podman[@]}" run --rm --network host "$base" /lib64/ld-linux-x86-64.so.2 --version >/dev/null 2>&1; then
    skip "podman cannot run a container on this machine: $("${podman[@]}" run --rm --network host "$base" /lib64/ld-linux-x86-64.so.2 --version 2>&1 | tail -n 1)"
fi

# The Dockerfile's runtime stage as it is, from the local base and the given binary.
context="$work/context"
rm -rf "$context"
mkdir -p "$context"
ln -f "$binary" "$context/storefront" 2>/dev/null || cp "$binary" "$context/storefront"
awk '/^FROM .* AS runtime$/ { runtime = 1; print "FROM '"$base"'"; next } runtime' Dockerfile \
    | sed -E 's#^COPY --from=builder /out/storefront #COPY storefront #' > "$context/Containerfile"
grep -q '^COPY storefront ' "$context/Containerfile" || { echo "the Dockerfile has no runtime stage copying /out/storefront" >&2; exit 1; }
"${podman[@]}" build --quiet --format docker -f "$context/Containerfile" -t "$image" "$context" >/dev/null

[ "$("${podman[@]}" image inspect --format '{{.Config.User}}' "$image")" = "65532:65532" ] \
    || { echo "the image does not run as uid 65532" >&2; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${podman[@]}" run -d --name "$name" --network host \
    -e STOREFRONT__SERVER__HOST=127.0.0.1 -e STOREFRONT__SERVER__PORT="$port" \
    -e STOREFRONT__AUTH__JWT_SECRET="podman-smoke-test-secret-of-32-bytes!!" \
    -e STOREFRONT__AUTH__PASSWORD_PEPPER="podman-smoke-test-pepper" \
    "$image" >/dev/null 2>"$work/podman-run.log" || { cat "$work/podman-run.log" >&2; exit 1; }
# (Without systemd, podman logs that it cannot schedule the periodic health checks; the
# check is run by hand below.)

for _ in $(seq 1 60); do
    if curl -fsS -m 2 "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
    sleep 0.5
done
if ! body=$(curl -fsS -m 2 "http://127.0.0.1:$port/health"); then
    "${podman[@]}" logs "$name" >&2 || true
    echo "the container never answered /health on port $port" >&2
    exit 1
fi
echo "GET /health from the container: $body"
"${podman[@]}" healthcheck run "$name"
echo "the image's HEALTHCHECK (storefront healthcheck) passed"
echo "podman smoke test passed"
