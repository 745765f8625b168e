-- wrk script: one upload per request, each with distinct content (a run nonce, the thread
-- and a counter in the first 32 bytes) so that neither server can answer from dedupe.
-- args: mode size nonce
--   mode "post": multipart/form-data POST /group1/upload (fileserver), field "file"
--   mode "put":  PUT /up/<nonce>/<thread>/<n>.bin with the raw bytes (nginx dav module)
local mode, size, nonce
local tail            -- content after the 32-byte distinct prefix
local n = 0
local boundary = "----wrkBenchBoundary7d3a9c41"
local ctype_hdr

local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  mode = args[1]
  size = tonumber(args[2])
  nonce = args[3]
  local f = assert(io.open("/dev/urandom", "rb"))
  local base = f:read(size)
  f:close()
  tail = base:sub(33)
  ctype_hdr = { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }
end

function request()
  n = n + 1
  -- underscores: the server strips "-" (and other specials) from file names
  local id = string.format("%s_%d_%d", nonce, tid or 1, n)
  local head = string.format("%-31s\n", id)
  if mode == "put" then
    return wrk.format("PUT", string.format("/up/%s/%d/%d.bin", nonce, tid or 1, n), nil,
                      head .. tail)
  end
  -- one concatenation, so the body is copied as often as the PUT's (once here, once by
  -- wrk.format): the client's work should not differ between the servers by more than the
  -- multipart framing
  local body = "--" .. boundary .. "\r\n" ..
    'Content-Disposition: form-data; name="file"; filename="u' .. id .. '.bin"\r\n' ..
    "Content-Type: application/octet-stream\r\n\r\n" .. head .. tail ..
    "\r\n--" .. boundary .. "--\r\n"
  return wrk.format("POST", "/group1/upload", ctype_hdr, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
