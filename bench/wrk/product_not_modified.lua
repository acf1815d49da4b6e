-- GET /api/v1/products/{id} with the If-None-Match of the product's current ETag (bench/run
-- fetched them, `product_etags`: id and tag; it checks that they answer 304): every answer
-- is a 304 without a body.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local etags = read_lines("product_etags")
function request()
  local id, tag = pick(etags):match("^(%S+) (.+)$")
  return wrk.format("GET", "/api/v1/products/" .. id, { ["If-None-Match"] = tag })
end
