-- GET /health: the HTTP stack alone, no dependency touched.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
wrk.path = "/health"
