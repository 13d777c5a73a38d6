-- A mixed workload in a fixed pattern of 50 requests: 45 token-checked GETs
-- (90%), 4 refresh rotations (8%) and 1 login (2%).
-- env BENCH_AUTH_HEADER   header line of the GETs, such as "Authorization: Bearer eyJ..."
--     ME_PATH, REFRESH_PATH, LOGIN_PATH
--     BENCH_TOKENS_FILE, BENCH_THREADS   as in refresh.lua
--     BENCH_USERS_FILE, BENCH_PASSWORD   as in login.lua
-- Successors of refreshed tokens and the tokens from logins join the pool, so
-- refreshes spread over more sessions as the run goes on.
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local threads
setup, threads = common.thread_setup()

local pool, emails, password, get_request
local me_path = os.getenv("ME_PATH") or "/api/v1/users/me"
local refresh_path = os.getenv("REFRESH_PATH") or "/api/v1/auth/refresh"
local login_path = os.getenv("LOGIN_PATH") or "/api/v1/auth/login"
local counter = 0
sent_get, sent_refresh, sent_login, empty_pool, tokens_returned = 0, 0, 0, 0, 0

function init(args)
  local all = common.read_lines(os.getenv("BENCH_TOKENS_FILE"))
  pool = common.queue(common.share(all, thread_index, tonumber(os.getenv("BENCH_THREADS")) or 1))
  emails = common.read_lines(os.getenv("BENCH_USERS_FILE"))
  password = os.getenv("BENCH_PASSWORD")
  local line = os.getenv("BENCH_AUTH_HEADER") or ""
  local name, value = line:match("^([^:]+):%s*(.*)$")
  local headers = {}
  if name then headers[name] = value end
  get_request = wrk.format("GET", me_path, headers)
  counter = (thread_index or 1) * 13
end

function request()
  counter = counter + 1
  local slot = counter % 50
  if slot == 0 then
    sent_login = sent_login + 1
    local content_type, body = common.login_body(emails[counter % #emails + 1], password)
    return wrk.format("POST", login_path, { ["Content-Type"] = content_type }, body)
  end
  if slot % 10 == 0 then
    local token = pool.pop()
    if token then
      sent_refresh = sent_refresh + 1
      return wrk.format("POST", refresh_path, { ["Content-Type"] = "application/json" },
        '{"refresh_token":"' .. token .. '"}')
    end
    empty_pool = empty_pool + 1
  end
  sent_get = sent_get + 1
  return get_request
end

function response(status, headers, body)
  if status == 200 and #body > 0 and body:find("refresh_token", 1, true) then
    local token = common.refresh_token_of(body)
    if token then
      tokens_returned = tokens_returned + 1
      pool.push(token)
    end
  end
end

function done(summary, latency, requests)
  common.result(summary, latency, string.format("sent_get=%d sent_refresh=%d sent_login=%d empty_pool=%d tokens_returned=%d",
    common.sum(threads, "sent_get"), common.sum(threads, "sent_refresh"), common.sum(threads, "sent_login"),
    common.sum(threads, "empty_pool"), common.sum(threads, "tokens_returned")))
end
