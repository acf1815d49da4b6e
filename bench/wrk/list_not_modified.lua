-- The pages of list_cursor, each with the If-None-Match of its current ETag (`list_pages`;
-- bench/run checks that one answers 304): every answer is a 304 without a body, in place
-- of the 200 list_cursor gets.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local pages = read_lines("list_pages")
function request()
  local path, tag = pick(pages):match("^(%S+) (.+)$")
  return wrk.format("GET", path, { ["If-None-Match"] = tag })
end
