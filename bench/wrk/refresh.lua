-- Rotate refresh tokens: POST {"refresh_token"} to the URL given to wrk and put
-- the successor from each response back into the thread's pool. A refresh token
-- is single use, so every token is in flight on one connection at a time.
-- env BENCH_TOKENS_FILE  refresh tokens of distinct sessions, one per line. The
--                        threads split them. Each thread needs one token per
--                        connection, and the first thread one more, because wrk
--                        calls request() once before the run to check the script.
--     BENCH_THREADS      the -t given to wrk
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local threads
setup, threads = common.thread_setup()

local pool
-- Requests sent without a token because the pool was empty, after earlier
-- refreshes failed and lost their sessions' chains. Somnium rejects each with 401.
empty_pool = 0
rotated = 0

function init(args)
  local all = common.read_lines(os.getenv("BENCH_TOKENS_FILE"))
  pool = common.queue(common.share(all, thread_index, tonumber(os.getenv("BENCH_THREADS")) or 1))
end

function request()
  local token = pool.pop()
  if not token then
    empty_pool = empty_pool + 1
    token = "empty-pool"
  end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = status == 200 and common.refresh_token_of(body)
  if token then
    rotated = rotated + 1
    pool.push(token)
  end
end

function done(summary, latency, requests)
  common.result(summary, latency, string.format("rotated=%d empty_pool=%d",
    common.sum(threads, "rotated"), common.sum(threads, "empty_pool")))
end
