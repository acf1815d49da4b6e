"""Checks the assistant against a server whose provider is a real model (see run.sh).

Asserts structure and behaviour only: the events of a streamed chat and their order, the
stored conversation, a client disconnect stored as `interrupted`, and usage recorded
(`estimated` when the model server sends none); then each text utility once (its shape
and bounds), and the same call again answered from the cache (`X-Cache: HIT`). Writes what
it measured (time to first token, tokens per second, a summarize miss and hit) to
OUT/measurements.json.

    python3 check.py BASE_URL OUT_DIR
"""

import http.client
import json
import socket
import sys
import time
import urllib.parse
import urllib.request

BASE = sys.argv[1]
OUT = sys.argv[2]
HOST = urllib.parse.urlparse(BASE)


def call(method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


UTILITY_CALLS = []


def call_with_headers(method, path, token, body, headers=None):
    """Like `call`, also answering the response's headers; counts the calls that reached the
    provider or the cache (200 or 503), which are the ones counted as requests."""
    request = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            UTILITY_CALLS.append(response.status)
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        if error.code == 503:
            UTILITY_CALLS.append(error.code)
        return error.code, json.loads(error.read() or b"null"), error.headers


def check(condition, message):
    if not condition:
        raise SystemExit("FAILED: " + message)


def open_stream(token, body):
    """A chat request with Accept: text/event-stream; returns the connection and response."""
    connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=120)
    connection.request(
        "POST",
        "/api/v1/ai/chat",
        body=json.dumps(body),
        headers={
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Authorization": "Bearer " + token,
        },
    )
    return connection, connection.getresponse()


def read_events(response, stop_after_delta=False):
    """Yields (name, data) of each event; comment lines are skipped."""
    name, data = None, []
    while True:
        line = response.readline()
        if not line:
            return
        line = line.decode().rstrip("\n")
        if line == "":
            if name is not None:
                yield name, json.loads("".join(data))
                if stop_after_delta and name == "delta":
                    return
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])


def messages(token, conversation):
    status, page = call("GET", f"/api/v1/chat/conversations/{conversation}/messages", token)
    check(status == 200, f"messages: {status} {page}")
    return page["items"]


email = f"llm-{int(time.time())}@example.com"
password = "violet lantern 42 harbor"
status, _ = call("POST", "/api/v1/users", body={"email": email, "password": password, "name": "Model Tester"})
check(status == 201, f"registration: {status}")
status, tokens = call("POST", "/api/v1/auth/login", body={"email": email, "password": password})
check(status == 200, f"login: {status}")
token = tokens["access_token"]

# 1. A streamed chat: meta, deltas as they come, done.
question = "Which desk or chair would you recommend for a small home office? Explain why."
started = time.monotonic()
connection, response = open_stream(token, {"message": question})
if response.status != 200:
    raise SystemExit(f"FAILED: stream: {response.status} {response.read()[:500]!r}")
check(response.getheader("Content-Type") == "text/event-stream", "stream content type")
check(response.getheader("Cache-Control") == "no-cache", "stream cache control")
check(response.getheader("X-Accel-Buffering") == "no", "stream buffering")
events = []
first_delta_at = None
for name, data in read_events(response):
    if name == "delta" and first_delta_at is None:
        first_delta_at = time.monotonic()
    events.append((name, data))
finished_at = time.monotonic()
connection.close()
names = [n for n, _ in events]
check(names[0] == "meta", f"first event: {names[:3]}")
check(names[-1] == "done", f"last event: {names[-3:]} {events[-1][1] if events else ''}")
check(names.count("delta") >= 1 and set(names[1:-1]) == {"delta"}, f"events: {names}")
meta, done = events[0][1], events[-1][1]
check(meta["provider"] == "openai" and meta["model"] == "smollm2", f"meta: {meta}")
check(done["message_id"] == meta["message_id"], "done names the reply of meta")
usage = done["usage"]
check(set(usage) == {"prompt_tokens", "completion_tokens", "estimated"}, f"usage: {usage}")
check(usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0, f"usage counts: {usage}")
reply = "".join(d["content"] for n, d in events if n == "delta")

# 2. The stored conversation.
conversation = meta["conversation_id"]
stored = messages(token, conversation)
check([m["role"] for m in stored] == ["user", "assistant"], f"stored roles: {stored}")
check(stored[0]["content"] == question, "the question as sent")
answer = stored[1]
check(answer["id"] == meta["message_id"] and answer["status"] == "complete", f"answer: {answer}")
check((answer["provider"], answer["model"]) == ("openai", "smollm2"), f"answer provider: {answer}")
check(answer["usage"] == usage, f"stored usage {answer['usage']} vs streamed {usage}")
# Stored redacted: equal to the stream unless the model wrote something that looks personal.
check(answer["content"] == reply or "[" in answer["content"], "the stored reply is the streamed one")

# 3. A JSON chat in the same conversation (the history goes with it).
status, body = call("POST", "/api/v1/ai/chat", token, {"conversation_id": conversation, "message": "And a lamp?"})
check(status == 200, f"json chat: {status} {body}")
check(body["message"]["status"] == "complete" and body["conversation_id"] == conversation, f"json chat: {body}")

# 4. A client that leaves mid-stream: the reply is stored `interrupted`.
connection, response = open_stream(
    token, {"conversation_id": conversation, "message": "Tell me a long story about a walnut desk."}
)
check(response.status == 200, f"second stream: {response.status}")
seen = list(read_events(response, stop_after_delta=True))
check([n for n, _ in seen][:2] == ["meta", "delta"], f"second stream began with {seen[:2]}")
interrupted_id = seen[0][1]["message_id"]
connection.sock.shutdown(socket.SHUT_RDWR)
connection.close()
status_of = None
for _ in range(300):
    found = [m for m in messages(token, conversation) if m["id"] == interrupted_id]
    if found:
        status_of = found[0]["status"]
        break
    time.sleep(0.1)
check(status_of == "interrupted", f"the abandoned reply is stored as {status_of}")
abandoned = found[0]
check(abandoned["usage"]["estimated"] is True, f"an interrupted reply's usage is estimated: {abandoned}")

# 5. Usage recorded for today.
status, today = call("GET", "/api/v1/users/me/ai-usage", token)
check(status == 200 and today["requests"] == 3, f"usage today: {today}")
all_replies = [m for m in messages(token, conversation) if m["role"] == "assistant"]
check(
    today["prompt_tokens"] == sum(m["usage"]["prompt_tokens"] for m in all_replies)
    and today["completion_tokens"] == sum(m["usage"]["completion_tokens"] for m in all_replies),
    f"usage today adds up: {today} vs {[m['usage'] for m in all_replies]}",
)
check(today["tokens_left"] == today["token_budget"] - today["prompt_tokens"] - today["completion_tokens"], "tokens left")

# 6. Each text utility once on the model (shape and bounds), then again from the cache.
review = (
    "The walnut desk arrived in two days. Assembly took ten minutes and it is sturdy. "
    "The drawer runs smoothly, but one corner had a small scratch."
)
labels = ["furniture", "lighting", "kitchen"]
utilities = [
    ("/api/v1/ai/summarize", {"text": review, "max_chars": 80}),
    ("/api/v1/ai/moderate", {"text": review}),
    ("/api/v1/ai/classify", {"text": review, "labels": labels}),
    ("/api/v1/ai/generate", {"kind": "product_description", "prompt": "a walnut desk for small rooms", "max_words": 40}),
]
utility_ms = {}
utility_failures = []


def check_utility(path, body):
    """One utility on the model, then the same call from the cache; raises SystemExit on a failure."""
    started = time.monotonic()
    status, answer, headers = call_with_headers("POST", path, token, body)
    miss_ms = (time.monotonic() - started) * 1000
    check(status == 200, f"{path}: {status} {answer}")
    check(headers.get("X-Cache") == "MISS", f"{path}: first call X-Cache {headers.get('X-Cache')}")
    if path.endswith("summarize"):
        check(set(answer) == {"summary", "provider", "model"}, f"summarize: {answer}")
        check(0 < len(answer["summary"]) <= 80, f"summary length: {answer}")
        check((answer["provider"], answer["model"]) == ("openai", "smollm2"), f"summarize provider: {answer}")
    elif path.endswith("moderate"):
        check(set(answer) == {"flagged", "toxicity", "categories", "issues"}, f"moderate: {answer}")
        check(isinstance(answer["flagged"], bool) and 0 <= answer["toxicity"] <= 1, f"moderate: {answer}")
        categories = answer["categories"]
        check(set(categories) == {"harassment", "hate", "sexual", "violence", "self_harm", "spam"}, f"{categories}")
        check(all(0 <= v <= 1 for v in categories.values()), f"category scores: {categories}")
        check(isinstance(answer["issues"], list), f"issues: {answer}")
    elif path.endswith("classify"):
        check(set(answer) == {"label", "sentiment", "confidence"}, f"classify: {answer}")
        check(answer["label"] in labels, f"label from the list: {answer}")
        check(answer["sentiment"] in ("positive", "neutral", "negative") and 0 <= answer["confidence"] <= 1, f"{answer}")
    else:
        check(set(answer) == {"content", "provider", "model"}, f"generate: {answer}")
        check(0 < len(answer["content"].split()) <= 40, f"generated words: {answer}")
    started = time.monotonic()
    status, again, headers = call_with_headers("POST", path, token, body)
    hit_ms = (time.monotonic() - started) * 1000
    check(status == 200 and headers.get("X-Cache") == "HIT", f"{path}: second call {status} {headers.get('X-Cache')}")
    check(again == answer, f"{path}: the hit answers what the miss did")
    utility_ms[path.rsplit("/", 1)[1]] = {"miss_ms": round(miss_ms), "hit_ms": round(hit_ms, 1)}


# Each utility is tried even when one before it failed, so that one run reports them all.
for path, body in utilities:
    try:
        check_utility(path, body)
    except SystemExit as failure:
        utility_failures.append(str(failure))
# 7. The shop's own uses on the model: a product of the caller's, reviewed by a second
# user; the review is moderated by the model (the in-process dispatcher), the product's
# review summary is made by it, and a description is suggested for the owner.
shop_failures = []
suggestions_made = 0


def eventually(what, read, ready, seconds=120):
    """Polls `read()` until `ready(value)`; the model answers one request at a time."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if ready(value):
            return value
        check(time.monotonic() < deadline, f"{what} within {seconds} s: {value}")
        time.sleep(1)


try:
    status, product = call("POST", "/api/v1/products", token,
                           {"name": "Walnut desk", "description": "A compact desk.", "price_cents": 24900, "stock": 3})
    check(status == 201, f"product: {status} {product}")
    reviewer_email = f"llm-reviewer-{int(time.time())}@example.com"
    status, _ = call("POST", "/api/v1/users", body={"email": reviewer_email, "password": password, "name": "Reviewer"})
    check(status == 201, f"reviewer registration: {status}")
    status, reviewer = call("POST", "/api/v1/auth/login", body={"email": reviewer_email, "password": password})
    check(status == 200, f"reviewer login: {status}")
    status, review = call("POST", f"/api/v1/products/{product['id']}/reviews", reviewer["access_token"],
                          {"rating": 4, "body": "Sturdy desk, easy to assemble, fits my small room. The drawer sticks a little."})
    check(status == 201, f"review: {status} {review}")
    checked = eventually(
        "the review's moderation by the model",
        lambda: call("GET", f"/api/v1/reviews/{review['id']}", reviewer["access_token"])[1],
        lambda r: (r.get("moderation") or {}).get("checked_at") is not None,
    )
    check(checked["moderation"]["status"] in ("approved", "flagged"), f"moderation: {checked}")
    check(0 <= checked["moderation"]["toxicity"] <= 1, f"toxicity: {checked}")
    utility_ms["review_moderation"] = {"status": checked["moderation"]["status"]}
    if checked["moderation"]["status"] == "flagged":
        # The small model flagged a friendly review: hidden, so the product has no public
        # review to summarise (and counts none).
        status, summary = call("GET", f"/api/v1/products/{product['id']}/reviews/summary")
        check(status == 200 and summary["review_count"] == 0 and summary["summary"] is None, f"hidden: {summary}")
    else:
        started = time.monotonic()
        summary = eventually(
            "the review summary",
            lambda: call("GET", f"/api/v1/products/{product['id']}/reviews/summary")[1],
            lambda s: s.get("summary") is not None,
        )
        utility_ms["review_summary_wait"] = {"miss_ms": round((time.monotonic() - started) * 1000)}
        check(set(summary) == {"summary", "review_count", "rating_avg", "generated_at"}, f"summary: {summary}")
        check(0 < len(summary["summary"]) <= 300 and summary["review_count"] == 1, f"summary: {summary}")
    status, suggestion = call("POST", f"/api/v1/products/{product['id']}/description/suggestion", token,
                              {"tone": "premium"})
    check(status == 200 and set(suggestion) == {"description"}, f"suggestion: {status} {suggestion}")
    suggestions_made += 1
    check(0 < len(suggestion["description"].split()) <= 120, f"suggestion words: {suggestion}")
except SystemExit as failure:
    shop_failures.append(str(failure))
status, fresh, headers = call_with_headers("POST", utilities[0][0], token, utilities[0][1], {"Cache-Control": "no-cache"})
check(status == 200 and headers.get("X-Cache") == "MISS", f"no-cache: {status} {headers.get('X-Cache')}")
status, today = call("GET", "/api/v1/users/me/ai-usage", token)
# A call the provider failed (503) is a request too.
check(
    today["requests"] == 3 + len(UTILITY_CALLS) + suggestions_made,
    f"every utility call and suggestion counted as a request: {today} {UTILITY_CALLS} {suggestions_made}",
)

deltas = names.count("delta")
measured = {
    "time_to_first_token_ms": round((first_delta_at - started) * 1000),
    "stream_ms": round((finished_at - started) * 1000),
    "deltas": deltas,
    "completion_tokens": usage["completion_tokens"],
    "usage_estimated": usage["estimated"],
    "tokens_per_second": round(usage["completion_tokens"] / max(finished_at - first_delta_at, 1e-3), 1),
    "utilities": utility_ms,
}
with open(f"{OUT}/measurements.json", "w") as f:
    json.dump(measured, f, indent=2)
print(json.dumps(measured))
if utility_failures or shop_failures:
    raise SystemExit("\n".join(utility_failures + shop_failures))
print(
    "real model: streamed chat, stored conversation, JSON chat, disconnect → interrupted, usage, utilities + cache, "
    "review moderation, review summary, description suggestion: OK"
)
