-- POST /order/pay/ as the original frontend sends it: each request creates an order with its
-- lines and gets a signed page-pay link back. Counts as success: 2xx with {"code":1,…}.
--   BENCH_TOKEN=… BENCH_COURSES=1,2 BENCH_TOTAL=88.88 wrk -t2 -c16 -d15s -s pay.lua http://host:port/order/pay/
-- BENCH_AUTH_SCHEME (default jwt) is the Authorization scheme the frontend uses.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local report = require("report")

local function required(name)
  return assert(os.getenv(name), name .. " is required")
end

local courses = required("BENCH_COURSES")
assert(courses:match("^%d+[%d,]*$"), "BENCH_COURSES is a comma-separated list of course ids")
wrk.method = "POST"
wrk.body = string.format('{"subject":"bench","total_amount":"%s","pay_type":1,"course_list":[%s]}',
  required("BENCH_TOTAL"), courses)
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = (os.getenv("BENCH_AUTH_SCHEME") or "jwt") .. " " .. required("BENCH_TOKEN")

function setup(thread) report.setup(thread) end

function response(status, headers, body)
  report.answer(status, body:find('"code"%s*:%s*1[,}]') ~= nil)
end

function done(summary, latency, requests) report.done(summary, latency) end
