-- Helpers shared by the load scripts. Each script loads this file with
-- dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua"); wrk runs every script
-- once in the main Lua state (setup, done) and once per thread.
local common = {}

-- Returns wrk's setup() for a script, which numbers the threads from 1 in their
-- global `thread_index`, and the list of threads it records, for common.sum.
function common.thread_setup()
  local threads = {}
  local function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_index", #threads)
  end
  return setup, threads
end

-- Returns the non-empty lines of a file, or raises an error naming the file.
function common.read_lines(path)
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  local lines = {}
  for line in file:lines() do
    if line ~= "" then table.insert(lines, line) end
  end
  file:close()
  return lines
end

-- Returns the lines whose 1-based position p satisfies p % count == index % count,
-- so that `count` threads split one file without sharing a line.
function common.share(lines, index, count)
  local mine = {}
  for position, line in ipairs(lines) do
    if position % count == index % count then table.insert(mine, line) end
  end
  return mine
end

-- A first-in, first-out queue of refresh tokens.
function common.queue(items)
  local queue = { first = 1, last = 0, items = {} }
  for _, item in ipairs(items or {}) do
    queue.last = queue.last + 1
    queue.items[queue.last] = item
  end
  function queue.push(item)
    queue.last = queue.last + 1
    queue.items[queue.last] = item
  end
  function queue.pop()
    if queue.first > queue.last then return nil end
    local item = queue.items[queue.first]
    queue.items[queue.first] = nil
    queue.first = queue.first + 1
    return item
  end
  return queue
end

function common.json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function common.urlencode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- Extracts the refresh token from a login or refresh response body.
function common.refresh_token_of(body)
  return body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
end

-- Builds the login request body for LOGIN_FORMAT json (Somnium) or form (OAuth2
-- password form, the fastapi-users peer).
function common.login_body(email, password)
  local format = os.getenv("LOGIN_FORMAT") or "json"
  if format == "form" then
    local field = os.getenv("LOGIN_USER_FIELD") or "username"
    return "application/x-www-form-urlencoded",
      field .. "=" .. common.urlencode(email) .. "&password=" .. common.urlencode(password)
  end
  local field = os.getenv("LOGIN_USER_FIELD") or "email"
  return "application/json",
    string.format('{"%s":%s,"password":%s}', field, common.json_string(email), common.json_string(password))
end

-- Writes the machine-readable summary line that run.sh parses. Latencies are
-- in microseconds inside wrk and printed in milliseconds. `extra` is appended
-- as further key=value pairs.
function common.result(summary, latency, extra)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d sock_errors=%d timeouts=%d%s\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errors.status, errors.connect + errors.read + errors.write, errors.timeout,
    extra and (" " .. extra) or ""))
end

-- Sums a numeric per-thread global over the threads recorded in setup().
function common.sum(threads, name)
  local total = 0
  for _, thread in ipairs(threads) do total = total + (tonumber(thread:get(name)) or 0) end
  return total
end

return common
