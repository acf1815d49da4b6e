-- POST /api/v1/ai/summarize with a text never asked before in each request (a run nonce and
-- a counter in it): every request is a cache MISS on the builtin provider (X-Cache: MISS).
-- With a real model the miss is the model's time; tests/llm/run.sh measures that one.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local tokens = read_lines("tokens")
local nonce = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
local counter = 0
function request()
  counter = counter + 1
  local body = '{"text":"Order ' .. nonce .. '-' .. counter .. ': the walnut desk arrived in two days. ' ..
    'Assembly took ten minutes and it is sturdy. The drawer runs smoothly, but one corner had a small ' ..
    'scratch.","max_chars":80}'
  return wrk.format("POST", "/api/v1/ai/summarize",
    { ["Authorization"] = "Bearer " .. pick(tokens), ["Content-Type"] = "application/json" }, body)
end
