-- POST valid credentials to the URL given to wrk, cycling through a list of
-- accounts that all share one password.
-- env BENCH_USERS_FILE  e-mail addresses, one per line
--     BENCH_PASSWORD    their password
--     LOGIN_FORMAT      json (default) or form; LOGIN_USER_FIELD overrides the field name
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
setup = common.thread_setup()

local emails, password, counter

function init(args)
  emails = common.read_lines(os.getenv("BENCH_USERS_FILE"))
  password = os.getenv("BENCH_PASSWORD")
  -- Threads start at different accounts so that they do not log in to the same one in step.
  counter = (thread_index or 1) * 7
end

function request()
  counter = counter + 1
  local content_type, body = common.login_body(emails[counter % #emails + 1], password)
  return wrk.format("POST", nil, { ["Content-Type"] = content_type }, body)
end

function done(summary, latency, requests)
  common.result(summary, latency)
end
