-- wrk script used by bench/run_read_post.py.
--
--   wrk -t1 -c4 -d15s -s bench/wrk_bench.lua URL -- MAX_REQUESTS [TEMPLATES_FILE [PREFIX]]
--
-- Without TEMPLATES_FILE every request is wrk's own (GET, with the -H headers).
-- With it, every request is a POST whose JSON body is a line of that file (one JSON document
-- per line, taken in turn) with each "@@N@@" replaced by PREFIX and a number unique to the
-- request, so that no two posted bodies or author names are the same (give each run its own
-- PREFIX). A line may begin with one request header and a TAB ("Authorization: Bearer
-- <token>\t{...}"): that request carries the header (JSON never holds a raw TAB, so the split
-- is unambiguous); bench/identity.py posts as a different signed-in reader per line this way.
-- Each thread stops after MAX_REQUESTS requests (the run is bounded by -d as well).
-- At the end one line "WRK_JSON {...}" gives the counts, status codes and latency percentiles,
-- and the monotonic times of the first and last responses (so that slow servers, whose requests
-- still in flight at the end of -d are not counted by wrk, can be rated over the time between
-- the first and last responses instead).

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("id", thread_count)
   table.insert(threads, thread)
end

local function post_headers_base()
   local headers = {}
   for k, v in pairs(wrk.headers) do headers[k] = v end
   headers["Content-Type"] = "application/json"
   return headers
end

function init(args)
   max_requests = tonumber(args[1]) or 1000000
   templates = {}
   if args[2] ~= nil and args[2] ~= "" then
      local f = assert(io.open(args[2], "r"))
      for line in f:lines() do
         if #line > 0 then
            local headers = post_headers_base()
            local tab = string.find(line, "\t", 1, true)
            if tab then
               local name, value = string.match(string.sub(line, 1, tab - 1), "^([^:]+):%s*(.*)$")
               headers[name] = value
               line = string.sub(line, tab + 1)
            end
            table.insert(templates, {headers = headers, body = line})
         end
      end
      f:close()
   end
   prefix = args[3] or ""
   sent = 0
   statuses = {}
   first_response = -1
   last_response = -1
end

function request()
   sent = sent + 1
   if sent > max_requests then
      wrk.thread:stop()
   end
   if #templates == 0 then
      return wrk.request()
   end
   local n = prefix .. tostring(id) .. "x" .. tostring(sent)
   local template = templates[(sent - 1) % #templates + 1]
   local body = (string.gsub(template.body, "@@N@@", n))
   return wrk.format("POST", nil, template.headers, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   local t = now()
   if first_response < 0 then first_response = t end
   last_response = t
end

function done(summary, latency, requests)
   local counts = {}
   local first, last = -1, -1
   for _, t in ipairs(threads) do
      local s = t:get("statuses") or {}
      for code, n in pairs(s) do counts[code] = (counts[code] or 0) + n end
      local f, l = t:get("first_response"), t:get("last_response")
      if f >= 0 and (first < 0 or f < first) then first = f end
      if l > last then last = l end
   end
   local parts = {}
   for code, n in pairs(counts) do
      table.insert(parts, string.format('"%d": %d', code, n))
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "stdev": %.1f, ' ..
      '"p50": %d, "p90": %d, "p95": %d, "p99": %d}, "statuses": {%s}, ' ..
      '"first_response_s": %.6f, "last_response_s": %.6f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.max, latency.stdev,
      latency:percentile(50), latency:percentile(90), latency:percentile(95),
      latency:percentile(99), table.concat(parts, ", "), first, last))
end
