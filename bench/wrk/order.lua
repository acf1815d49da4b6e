-- POST /api/v1/orders: one to three distinct products of the 1,000 with ample stock, one to
-- three units each, by random signed-in users.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local tokens = read_lines("tokens")
local ids = read_lines("ample_product_ids")
function request()
  local lines, chosen, wanted = {}, {}, math.random(3)
  while #lines < wanted do
    local id = pick(ids)
    if not chosen[id] then
      chosen[id] = true
      lines[#lines + 1] = string.format('{"product_id":"%s","quantity":%d}', id, math.random(3))
    end
  end
  return wrk.format("POST", "/api/v1/orders", {
    ["Authorization"] = "Bearer " .. pick(tokens),
    ["Content-Type"] = "application/json",
  }, '{"items":[' .. table.concat(lines, ",") .. ']}')
end
