-- GET /api/v1/products: the page of 20 at 80 % of a random category's depth, most liked
-- first, by the cursor bench/run fetched for that depth (`deep_cursors`: slug and cursor).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local cursors = read_lines("deep_cursors")
function request()
  local slug, cursor = pick(cursors):match("^(%S+) (%S+)$")
  return wrk.format("GET", "/api/v1/products?category=" .. slug .. "&sort=-likes&limit=20&cursor=" .. cursor)
end
