-- POST /api/v1/products: a new product in one of the 50 categories, by random signed-in
-- users (every bench user may create products), with a description of about 200 characters.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local tokens = read_lines("tokens")
local categories = read_lines("category_ids")
local words = { "oak", "linen", "copper", "travel", "garden", "compact", "classic", "bright", "soft", "steel" }
local function phrase(n)
  local chosen = {}
  for i = 1, n do chosen[i] = pick(words) end
  return table.concat(chosen, " ")
end
function request()
  local body = string.format(
    '{"name":"%s %d","description":"%s","price_cents":%d,"stock":%d,"category_ids":["%s"]}',
    phrase(3), math.random(1000000), phrase(30), math.random(100, 100000), math.random(0, 500), pick(categories))
  return wrk.format("POST", "/api/v1/products", {
    ["Authorization"] = "Bearer " .. pick(tokens),
    ["Content-Type"] = "application/json",
  }, body)
end
