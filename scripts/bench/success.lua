-- The return page's status poll: GET /order/success/?out_trade_no=… over the order numbers of
-- BENCH_ORDERS (first field of each line), round robin; each thread takes every
-- BENCH_THREADS-th line (default 2). Counts as success: 2xx with {"code":1,…} (a paid order);
-- an unpaid one is counted in bad_body.
--   BENCH_ORDERS=orders.txt wrk -t2 -c16 -d15s -s success.lua http://host:port/order/success/
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local report = require("report")

local paths, next_path

function setup(thread) report.setup(thread) end

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
  paths = {}
  for _, line in ipairs(report.my_lines(assert(os.getenv("BENCH_ORDERS"), "BENCH_ORDERS is required"), threads)) do
    table.insert(paths, wrk.path .. "?out_trade_no=" .. line:match("^(%S+)"))
  end
  next_path = 0
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end

function response(status, headers, body)
  report.answer(status, body:find('"code"%s*:%s*1[,}]') ~= nil)
end

function done(summary, latency, requests) report.done(summary, latency) end
