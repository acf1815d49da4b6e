-- GET /api/v1/users/me at a gentle pace (one request per connection every 10 ms): the latency
-- probe that runs while a flood of logins overflows the hashing queue.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local tokens = read_lines("tokens")
function request()
  return wrk.format("GET", "/api/v1/users/me", { ["Authorization"] = "Bearer " .. pick(tokens) })
end
function delay() return 10 end
