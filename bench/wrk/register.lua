-- POST a new account with a unique e-mail address on every request.
-- env BENCH_RUN_ID, WRK_NONCE  make the addresses unique across runs and wrk invocations
--     BENCH_PASSWORD           a password the service's policy accepts
--     REGISTER_EXTRA_JSON      members appended to the JSON object, such as ',"full_name":"Bench User"'
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
setup = common.thread_setup()

local prefix = "reg-" .. (os.getenv("BENCH_RUN_ID") or tostring(os.time())) .. "-" .. (os.getenv("WRK_NONCE") or "0")
local password = common.json_string(os.getenv("BENCH_PASSWORD") or "")
local extra = os.getenv("REGISTER_EXTRA_JSON") or ""
local counter = 0

function request()
  counter = counter + 1
  local body = string.format('{"email":"%s-%d-%d@example.com","password":%s%s}',
    prefix, thread_index or 0, counter, password, extra)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  common.result(summary, latency)
end
