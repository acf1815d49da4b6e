-- PUT and DELETE /api/v1/products/{id}/like, in turn, by random signed-in users on random
-- products (each a write that the like-count trigger follows on the product row).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local tokens = read_lines("tokens")
local ids = read_lines("product_ids")
local n = 0
function request()
  n = n + 1
  local method = (n % 2 == 0) and "DELETE" or "PUT"
  return wrk.format(method, "/api/v1/products/" .. pick(ids) .. "/like",
    { ["Authorization"] = "Bearer " .. pick(tokens) })
end
