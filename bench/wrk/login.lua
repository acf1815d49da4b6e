-- POST /api/v1/auth/login as random bench users (bcrypt at the configured cost each time).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local password = os.getenv("BENCH_PASSWORD")
function request()
  local body = string.format('{"email":"bench-user-%d@bench.test","password":"%s"}', math.random(0, 1999), password)
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end
