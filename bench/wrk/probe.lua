-- GET /health at a gentle pace (one request per connection every 10 ms): the latency probe
-- that runs while logins saturate the CPU.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
wrk.path = "/health"
function delay() return 10 end
