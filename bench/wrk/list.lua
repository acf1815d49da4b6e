-- GET /api/v1/products: a page of 20 of a random category, most liked first, at a random
-- offset within the category (every category holds about 370 products per 10,000).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local pages = 17 * products_scale()
function request()
  local path = string.format("/api/v1/products?category=category-%d&sort=-likes&limit=20&offset=%d",
    math.random(50), 20 * math.random(0, pages))
  return wrk.format("GET", path)
end
