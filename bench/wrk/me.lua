-- GET /api/v1/users/me with the bearer tokens of several signed-in bench users.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local tokens = read_lines("tokens")
function request()
  return wrk.format("GET", "/api/v1/users/me", { ["Authorization"] = "Bearer " .. pick(tokens) })
end
