-- GET the URL given to wrk with no credentials (/health/live, the JWKS, the
-- peer's /healthz).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
wrk.method = "GET"

function done(summary, latency, requests)
  common.result(summary, latency)
end
