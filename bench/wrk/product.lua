-- GET /api/v1/products/{id} over random ids of the 10,000 products, anonymously.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local ids = read_lines("product_ids")
function request()
  return wrk.format("GET", "/api/v1/products/" .. pick(ids))
end
