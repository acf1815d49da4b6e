# Sourced by the scripts under tests/: starts the built server in the background on a free
# loopback port with JSON logs, with the environment the caller exported.
#   start_server BINARY LOG   sets $server (its pid) and $port; stop_server stops it.

start_server() {
    local binary="$1" log="$2"
    STOREFRONT__SERVER__HOST=127.0.0.1 STOREFRONT__SERVER__PORT=0 \
        STOREFRONT__LOG__FORMAT=json STOREFRONT__LOG__FILTER=info \
        "$binary" serve 2>"$log" &
    server=$!
    port=""
    for _ in $(seq 1 100); do
        port=$(grep '"storefront listening"' "$log" | grep -o '"port":[0-9]*' | head -n 1 | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && return 0
        kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "the server exited" >&2; return 1; }
        sleep 0.1
    done
    cat "$log" >&2
    echo "the server did not start listening" >&2
    return 1
}

stop_server() {
    if [ -n "${server:-}" ]; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}
