#!/usr/bin/env bash
# The browser test of /docs: starts the built server on a free loopback port (memory store,
# rate limits on), runs docs.test.mjs in Debian's Chromium, stops the server. The screenshot
# goes to target/browser/. Needs /usr/bin/chromium (apt-get install chromium) and npm.
#   tests/browser/run.sh [path/to/storefront]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="${1:-$root/target/debug/storefront}"
out="$root/target/browser"
mkdir -p "$out"

log="$out/server.log"
env -u DATABASE_URL -u RUST_LOG STOREFRONT_ENV=test STOREFRONT__SERVER__PORT=0 \
    STOREFRONT__LOG__FORMAT=json STOREFRONT__LOG__FILTER=info \
    "$binary" serve 2>"$log" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

port=""
for _ in $(seq 1 100); do
    port=$(grep '"storefront listening"' "$log" | grep -o '"port":[0-9]*' | head -n 1 | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "the server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { cat "$log" >&2; echo "the server did not start listening" >&2; exit 1; }

cd "$here"
npm ci --no-audit --no-fund --silent
STOREFRONT_URL="http://127.0.0.1:$port" SCREENSHOT="$out/docs-users-me.png" npm test --silent
echo "screenshots: $out/docs-users-me.png, $out/docs-users-me-operation.png"
