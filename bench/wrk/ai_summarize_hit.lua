-- POST /api/v1/ai/summarize with one text for every request: after the first, each is a
-- cache HIT (X-Cache: HIT) — the guards, the limits, the usage row and the cache lookup,
-- without the provider.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local tokens = read_lines("tokens")
local body = '{"text":"The walnut desk arrived in two days. Assembly took ten minutes and it is sturdy. ' ..
  'The drawer runs smoothly, but one corner had a small scratch.","max_chars":80}'
function request()
  return wrk.format("POST", "/api/v1/ai/summarize",
    { ["Authorization"] = "Bearer " .. pick(tokens), ["Content-Type"] = "application/json" }, body)
end
