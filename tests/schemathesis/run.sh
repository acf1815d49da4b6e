#!/usr/bin/env bash
# Schemathesis against /openapi.json of the built server on a fresh PostgreSQL database:
# every operation the document lists, authenticated as an administrator, checked for
# server errors and for status codes, content types, headers and bodies that conform to
# the document. Installs the pinned schemathesis into target/schemathesis-venv.
#   tests/schemathesis/run.sh [path/to/storefront]
# Needs DATABASE_URL (an administrative connection; default the local postgres database).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="$(realpath "${1:-$root/target/debug/storefront}")"
out="$root/target/schemathesis"
mkdir -p "$out"
admin_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# Examples per operation and phase; keep CI well under its time budget. One worker keeps
# the seeded run repeatable (two found a real race once; see crates/http/tests/vanished_caller.rs).
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-40}"

venv="$root/target/schemathesis-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$(grep -o '[0-9.]*$' "$here/requirements.txt")"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

database="storefront_schemathesis_$$_$(date +%s)"
db_url="${admin_url%/*}/$database"
psql "$admin_url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$database\""

# shellcheck source=../serve.sh
source "$root/tests/serve.sh"
cleanup() {
    stop_server
    psql "$admin_url" -q -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" || true
}
trap cleanup EXIT

export STOREFRONT_ENV=test DATABASE_URL="$db_url"
# Limits stay on (their 429s are documented), but high enough for a fuzzer on one IP.
export STOREFRONT__RATE_LIMIT__PER_IP_MAX=1000000 STOREFRONT__RATE_LIMIT__FAILED_LOGINS_MAX=1000000
unset RUST_LOG STOREFRONT__REDIS__URL

export ADMIN_EMAIL="admin@schemathesis.test" ADMIN_PASSWORD="schemathesis admin password 2026"
"$binary" migrate
STOREFRONT_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$binary" create-admin --email "$ADMIN_EMAIL" --name Admin

start_server "$binary" "$out/server.log"
export STOREFRONT_URL="http://127.0.0.1:$port" STOREFRONT_BIN="$binary"

cd "$here"
SCHEMATHESIS_HOOKS=hooks "$venv/bin/schemathesis" run "$STOREFRONT_URL/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" \
    --seed 20261201 \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    --report junit --report-dir "$out"
