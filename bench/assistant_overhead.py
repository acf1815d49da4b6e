"""The server's overhead per streamed token of the assistant.

Starts a fake OpenAI-compatible upstream (stdlib only) that streams N chunks as fast as it
can, and the built server with `ai.provider = openai` pointing at it. Reads the same
stream twice — straight from the upstream, then through `POST /api/v1/ai/chat` with
`Accept: text/event-stream` — and reports the difference per chunk: what Storefront adds
to each token (decode, channel, SSE encoding, write). A record, not a test.

    python3 bench/assistant_overhead.py [path/to/storefront] [chunks]
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/storefront")
CHUNKS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("connection", "close")
        self.end_headers()

        def chunk(payload):
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        for i in range(CHUNKS):
            chunk(json.dumps({"choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]}))
        chunk(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 10, "completion_tokens": CHUNKS}}))
        chunk("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def read_stream(host, port, path, body, headers):
    connection = http.client.HTTPConnection(host, port, timeout=120)
    started = time.perf_counter()
    connection.request("POST", path, body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    assert response.status == 200, response.status
    while response.read(65536):
        pass
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def call(base, path, body):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


upstream_port = free_port()
server = ThreadingHTTPServer(("127.0.0.1", upstream_port), Upstream)
threading.Thread(target=server.serve_forever, daemon=True).start()

app_port = free_port()
env = dict(os.environ, STOREFRONT_ENV="test", STOREFRONT__SERVER__HOST="127.0.0.1",
           STOREFRONT__SERVER__PORT=str(app_port), STOREFRONT__AI__PROVIDER="openai",
           STOREFRONT__AI__BASE_URL=f"http://127.0.0.1:{upstream_port}/v1", STOREFRONT__AI__MODEL="fake",
           STOREFRONT__AI__MAX_TOKENS=str(CHUNKS), STOREFRONT__AI__DAILY_TOKEN_BUDGET="100000000")
for key in ("DATABASE_URL", "STOREFRONT__REDIS__URL", "RUST_LOG"):
    env.pop(key, None)
log = tempfile.TemporaryFile()
app = subprocess.Popen([BINARY, "serve"], env=env, stdout=log, stderr=log)
try:
    base = f"http://127.0.0.1:{app_port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    call(base, "/api/v1/users", {"email": "bench@example.com", "password": "violet lantern 42 harbor", "name": "B"})
    token = call(base, "/api/v1/auth/login", {"email": "bench@example.com", "password": "violet lantern 42 harbor"})[
        "access_token"]
    direct, through = [], []
    for _ in range(3):
        direct.append(read_stream("127.0.0.1", upstream_port, "/v1/chat/completions", {"stream": True},
                                  {"content-type": "application/json"}))
        through.append(read_stream("127.0.0.1", app_port, "/api/v1/ai/chat", {"message": "hi"}, {
            "content-type": "application/json", "accept": "text/event-stream",
            "authorization": f"Bearer {token}"}))
    best_direct, best_through = min(direct), min(through)
    print(json.dumps({
        "chunks": CHUNKS,
        "upstream_alone_ms": round(best_direct * 1000, 1),
        "through_storefront_ms": round(best_through * 1000, 1),
        "overhead_per_token_us": round((best_through - best_direct) / CHUNKS * 1e6, 1),
        "binary": BINARY,
    }))
finally:
    app.terminate()
    app.wait()
    server.shutdown()
