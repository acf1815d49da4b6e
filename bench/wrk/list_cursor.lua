-- GET /api/v1/products: a random page of 20 of one of ten categories, most liked first, by
-- its cursor (`list_pages`: every page of categories 1..10, walked by next_cursor when
-- bench/run loaded the data; path and ETag). What product_list asks for by offset.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local pages = read_lines("list_pages")
function request()
  local path = pick(pages):match("^(%S+) ")
  return wrk.format("GET", path)
end
