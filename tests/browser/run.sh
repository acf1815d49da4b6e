#!/usr/bin/env bash
# The browser tests — /docs, and the assistant's stream read by a page with fetch —: starts the built server on a free loopback port (memory store,
# rate limits on), runs docs.test.mjs in Debian's Chromium, stops the server. The screenshots
# go to target/browser/; the first view of /docs is README's picture: to refresh it,
# `cp target/browser/swagger-ui.png docs/`. Needs /usr/bin/chromium (apt-get install
# chromium) and npm.
#   tests/browser/run.sh [path/to/storefront]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="$(realpath "${1:-$root/target/debug/storefront}")"
out="$root/target/browser"
mkdir -p "$out"

# shellcheck source=../serve.sh
source "$root/tests/serve.sh"
trap stop_server EXIT
export STOREFRONT_ENV=test
unset DATABASE_URL RUST_LOG STOREFRONT__REDIS__URL
# The builtin assistant pauses before each word, so that the chat test sees a stream.
export STOREFRONT__AI__BUILTIN_WORD_DELAY_MS=20
start_server "$binary" "$out/server.log"

cd "$here"
npm ci --no-audit --no-fund --silent
STOREFRONT_URL="http://127.0.0.1:$port" SCREENSHOT="$out/docs-users-me.png" LANDING_SCREENSHOT="$out/swagger-ui.png" \
    CHAT_SCREENSHOT="$out/chat-stream.png" npm test --silent
echo "screenshots: $out/swagger-ui.png, $out/docs-users-me.png, $out/docs-users-me-operation.png"
