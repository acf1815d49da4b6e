-- GET /api/v1/products: the page of 20 at 80 % of a random category's depth (about 300 of
-- its 370 products per 10,000), most liked first, by offset: what list_deep_cursor asks
-- for by cursor.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local offset = 300 * products_scale()
function request()
  local path = string.format("/api/v1/products?category=category-%d&sort=-likes&limit=20&offset=%d",
    math.random(50), offset)
  return wrk.format("GET", path)
end
