-- Shared by the wrk scenario scripts: reads the run's data files (tokens, product ids) and
-- prints wrk's summary as one machine-readable line that bench/run parses.

local data = os.getenv("BENCH_DATA") or "."

function read_lines(name)
  local lines = {}
  for line in io.lines(data .. "/" .. name) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  return lines
end

function pick(list)
  return list[math.random(#list)]
end

-- How many times 10,000 products the data set holds (`bench/run --products`).
function products_scale()
  return math.floor((tonumber(os.getenv("BENCH_PRODUCTS")) or 10000) / 10000)
end

math.randomseed(os.time())

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "errors_status=%d errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
