-- wrk script: GET every path listed in the file given after "--", in turn. Requests are
-- built once in init() (building them per request would cost wrk CPU that the servers
-- need); each thread starts at its own offset so they do not walk in lock step.
local reqs = {}
local i = 1

local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then reqs[#reqs + 1] = wrk.format("GET", line) end
  end
  local nt = tonumber(args[2]) or 1
  i = (math.floor(((tid or 1) - 1) * #reqs / nt) % #reqs) + 1
end

function request()
  local r = reqs[i]
  i = i + 1
  if i > #reqs then i = 1 end
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
