-- Alipay's asynchronous notifications: POSTs pre-signed form bodies (one a line of BENCH_BODIES,
-- from the notify_bodies example), each for a different unpaid order, round robin; each thread
-- takes every BENCH_THREADS-th line (set it to wrk's -t; default 2). Counts as success: 200 with
-- the body `success`. A body sent a second time (the file ran out) is counted in `wrapped`: it
-- is a duplicate, not a payment, and the driver flags the run.
--   BENCH_BODIES=bodies.txt wrk -t2 -c16 -d15s -s notify.lua http://host:port/alipay/notify
-- BENCH_RATE=N (requests/s in all) paces the sends instead of going flat out.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local report = require("report")
local ffi = require("ffi")

ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local bodies, next_body, lapped, interval_ms, next_send_ms
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" }

function setup(thread) report.setup(thread) end

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
  bodies = report.my_lines(assert(os.getenv("BENCH_BODIES"), "BENCH_BODIES is required"), threads)
  next_body = 1
  local rate = tonumber(os.getenv("BENCH_RATE") or "0")
  interval_ms = rate > 0 and 1000 * threads / rate or 0
  next_send_ms = now_ms()
end

-- With BENCH_RATE, one send slot every interval_ms per thread, shared by its connections.
-- Slots up to 50 ms late are still used (wrk's timers fire late on a busy machine, and the
-- rate would sag); older ones, missed while every connection was busy, are dropped, not
-- made up in a burst.
function delay()
  if interval_ms == 0 then return 0 end
  local now = now_ms()
  if next_send_ms < now - 50 then next_send_ms = now - 50 end
  local wait = math.max(0, next_send_ms - now)
  next_send_ms = next_send_ms + interval_ms
  return wait
end

function request()
  -- wrk calls the first thread's request() once before the run, only to check the request it
  -- makes, and never sends that one: give it the first body without using the body up.
  if checked == nil then
    checked = true
    if thread_id == 0 then
      return wrk.format("POST", wrk.path, headers, bodies[1])
    end
  end
  if next_body > #bodies then
    next_body = 1
    lapped = true
  end
  if lapped then
    wrapped = wrapped + 1
  end
  local body = bodies[next_body]
  next_body = next_body + 1
  return wrk.format("POST", wrk.path, headers, body)
end

function response(status, headers, body)
  report.answer(status, status == 200 and body:match("^%s*success%s*$") ~= nil)
end

function done(summary, latency, requests) report.done(summary, latency) end
