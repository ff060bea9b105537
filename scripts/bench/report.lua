-- Shared by pay.lua, notify.lua and success.lua: numbers the threads, counts answers that are
-- not the endpoint's success in each thread, and prints one machine-readable line at the end,
--   BENCH requests=… ok=… ok_rps=… non2xx=… bad_body=… socket_errors=… p50_ms=… p99_ms=… …
-- so that a run full of errors cannot pass as fast: ok_rps counts only real successes.
-- Each script must call report.setup(thread) from its setup() and report.done(...) from done().
local report = {}

local threads = {}

-- Main Lua state, once per thread, before that thread's init().
-- With BENCH_ADDRS (host:port,host:port…: replicas of one service), thread i connects to the
-- (i mod N)-th of them instead of the URL's host, so one wrk spreads over replicas without a
-- load balancer in between.
function report.setup(thread)
  thread:set("thread_id", #threads)
  local addrs = os.getenv("BENCH_ADDRS")
  if addrs and addrs ~= "" then
    local list = {}
    for host, port in addrs:gmatch("([^,:]+):(%d+)") do
      table.insert(list, { host, port })
    end
    local pick = list[#threads % #list + 1]
    thread.addr = assert(wrk.lookup(pick[1], pick[2])[1], "cannot resolve " .. pick[1])
  end
  table.insert(threads, thread)
end

-- Thread state: call from response() with whether the answer was the expected success.
ok, non2xx, bad_body, wrapped = 0, 0, 0, 0
function report.answer(status, good)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif good then
    ok = ok + 1
  else
    bad_body = bad_body + 1
  end
end

-- Thread state: the lines of `path` that belong to this thread (every `count`-th, starting at
-- its id), so that no two threads send the same line and the file is used from its start.
function report.my_lines(path, count)
  local file = assert(io.open(path, "r"), "cannot open " .. path)
  local mine, index = {}, 0
  for line in file:lines() do
    if line ~= "" then
      if index % count == thread_id then
        table.insert(mine, line)
      end
      index = index + 1
    end
  end
  file:close()
  assert(#mine > 0, path .. " has no line for thread " .. thread_id)
  return mine
end

-- Main state.
function report.done(summary, latency)
  local sum = { ok = 0, non2xx = 0, bad_body = 0, wrapped = 0 }
  for _, thread in ipairs(threads) do
    for name in pairs(sum) do
      sum[name] = sum[name] + (thread:get(name) or 0)
    end
  end
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    "BENCH requests=%d ok=%d ok_rps=%.1f non2xx=%d bad_body=%d socket_errors=%d timeouts=%d "
      .. "wrapped=%d duration_s=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, sum.ok, sum.ok / seconds, sum.non2xx, sum.bad_body, socket_errors,
    errors.timeout, sum.wrapped, seconds, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end

return report
