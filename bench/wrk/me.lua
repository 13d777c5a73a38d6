-- GET a token-checked path (the URL given to wrk) with one fixed header.
-- env BENCH_AUTH_HEADER  the whole header line, such as "Authorization: Bearer eyJ..."
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local line = os.getenv("BENCH_AUTH_HEADER") or ""
local name, value = line:match("^([^:]+):%s*(.*)$")
if name then wrk.headers[name] = value end
wrk.method = "GET"

function done(summary, latency, requests)
  common.result(summary, latency)
end
