#!/usr/bin/env bash
# Measure Somnium and the fastapi-users peer side by side with wrk, on 127.0.0.1 only.
#
#   usage: bash bench/run.sh
#
# One run builds Somnium in release and starts it on SQLite. When both
# BENCH_POSTGRES_URL and BENCH_REDIS_URL are set, it starts Somnium a second time
# on a fresh PostgreSQL database with Redis. It drives each workload with wrk,
# does the same for the fastapi-users peer (2 uvicorn workers), and measures the
# argon2id verification bound of this machine. It writes, under OUT_DIR:
#   results.tsv  one row per wrk run: throughput, latency, errors, server CPU and RSS
#   facts.tsv    the hash bound, ready times, idle RSS and server-log counts
#   summary.md   medians, Somnium/peer ratios and the targets met or missed
# and prints summary.md.
#
# Settings (environment):
#   DURATION=10s  WARMUP=2s  REPEATS=1  THREADS=2  TIMEOUT=10s
#   CONNS=64               connections of every workload
#   LOGIN_LOW_CONNS=8      login is measured at this many connections too
#   USERS=64               accounts created per service; logins cycle through them
#   READY_REPEATS=3        restarts on the existing database to time /health/ready
#   IDLE_WAIT=7            seconds without requests before each idle RSS reading; Somnium frees
#                          its password hashing memory 5 s after the last hash
#   BENCH_POSTGRES_URL     postgres://postgres@127.0.0.1:5432/postgres: a database
#                          somnium_bench_<id> is created on that server and dropped at the end
#   BENCH_REDIS_URL        redis://127.0.0.1:6379: keys get the prefix bench-<id>: and are
#                          deleted at the end
#   BENCH_RATE_LIMIT       rate of every Somnium rate limit (default 1000000/minute)
#   BENCH_RUST_LOG         RUST_LOG of the Somnium under test (default info)
#   PEER_DIR               the fastapi-users peer (default ../shared/peers/fastapi_users_app
#                          beside the repository). PEER=0 skips it.
#   ANCHORS_DIR            a timing program for the Rust argon2 crate (default
#                          ../shared/peers/rust_anchors beside the repository), built once
#                          under the cache directory. HASH_BOUND_RUST=0 skips it.
#   PERF_SUITES            space-separated suites to profile with perf record (such as "me storm")
#   KEEP_LOGS=1            keeps the server logs (several hundred MB per run at RUST_LOG=info)
#   OUT_DIR                default bench/results/<UTC time>
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TOOLS=${XDG_CACHE_HOME:-$HOME/.cache}/somnium-tools
VENV=$TOOLS/fastapi-users-venv
WRK_APT_VERSION=${WRK_APT_VERSION:-4.1.0-3+b2}

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
REPEATS=${REPEATS:-1}
THREADS=${THREADS:-2}
TIMEOUT=${TIMEOUT:-10s}
CONNS=${CONNS:-64}
LOGIN_LOW_CONNS=${LOGIN_LOW_CONNS:-8}
USERS=${USERS:-64}
READY_REPEATS=${READY_REPEATS:-3}
IDLE_WAIT=${IDLE_WAIT:-7}
BENCH_RATE_LIMIT=${BENCH_RATE_LIMIT:-1000000/minute}
BENCH_RUST_LOG=${BENCH_RUST_LOG:-info}
PEER=${PEER:-1}
PEER_DIR=${PEER_DIR:-$ROOT/../shared/peers/fastapi_users_app}
ANCHORS_DIR=${ANCHORS_DIR:-$ROOT/../shared/peers/rust_anchors}
PERF_SUITES=${PERF_SUITES:-}
KEEP_LOGS=${KEEP_LOGS:-0}
OUT_DIR=${OUT_DIR:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}

export BENCH_WRK_DIR=$HERE/wrk
export BENCH_PASSWORD=${BENCH_PASSWORD:-Ward-7#Lumen}
export BENCH_RUN_ID=${BENCH_RUN_ID:-$(date +%s)-$$}
export BENCH_THREADS=$THREADS
RESULTS=$OUT_DIR/results.tsv
FACTS=$OUT_DIR/facts.tsv
CLK_TCK=$(getconf CLK_TCK)
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/somnium-bench.XXXXXX")

SERVER_PIDS=()
SAMPLER_PID=""
PG_ADMIN_URL=""
PG_DATABASE=""
REDIS_PREFIX=""

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "error: $*"; exit 1; }

# --- cleanup ------------------------------------------------------------------

# Stops one process by PID: SIGTERM, then SIGKILL if it has not exited after 20 s.
stop_pid() {
  local pid=$1 waited=0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 200 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "process $pid did not exit 20 s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

forget_pid() {
  local pid=$1 kept=() p
  for p in "${SERVER_PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  SERVER_PIDS=("${kept[@]}")
}

cleanup() {
  local status=$?
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  local pid
  for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
  if [ -n "$PG_DATABASE" ]; then
    psql "$PG_ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $PG_DATABASE WITH (FORCE)" >/dev/null \
      || log "could not drop the database $PG_DATABASE; drop it by hand"
  fi
  if [ -n "$REDIS_PREFIX" ]; then
    redis-cli -u "$BENCH_REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" | xargs -r redis-cli -u "$BENCH_REDIS_URL" del >/dev/null \
      || log "could not delete the Redis keys ${REDIS_PREFIX}*"
  fi
  rm -rf "$RUN_TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools --------------------------------------------------------------------

ensure_wrk() {
  command -v wrk >/dev/null && return 0
  log "installing wrk $WRK_APT_VERSION from Debian"
  [ "$(id -u)" = 0 ] || fail "wrk is missing and installing it needs root: apt-get install wrk=$WRK_APT_VERSION"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "wrk=$WRK_APT_VERSION" >/dev/null
}

# Installs the peer's pinned requirements (which include argon2-cffi) into $VENV once.
ensure_venv() {
  local requirements=$PEER_DIR/requirements.txt
  [ -f "$requirements" ] || fail "no requirements.txt in PEER_DIR=$PEER_DIR; set PEER_DIR to the fastapi-users peer"
  if [ -x "$VENV/bin/uvicorn" ] && cmp -s "$requirements" "$VENV/.requirements.txt"; then
    return 0
  fi
  log "installing the peer's pinned Python packages into $VENV"
  mkdir -p "$TOOLS"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$VENV/.requirements.txt"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

require_loopback_url() {
  local name=$1 url=$2
  case "$url" in
    *://127.*|*://localhost[:/]*|*://localhost|*://*@127.*|*://*@localhost[:/]*|*://*@localhost) ;;
    *) fail "$name must point at 127.0.0.1 or localhost, got $url" ;;
  esac
}

# --- process accounting -------------------------------------------------------

# Prints a PID and all its descendants.
tree_pids() {
  local pid=$1 child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do tree_pids "$child"; done
}

# Prints the user + system CPU ticks of the given PIDs together.
cpu_ticks() {
  local total=0 pid ticks
  for pid in "$@"; do
    # utime and stime are fields 14 and 15; the command name before them may contain spaces.
    ticks=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || ticks=0
    total=$((total + ${ticks:-0}))
  done
  echo "$total"
}

# Prints the resident set size of the given PIDs together, in KiB.
rss_kib() {
  local total=0 pid kib
  for pid in "$@"; do
    kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || kib=0
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

kib_to_mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Samples the RSS of the given PIDs every 100 ms into $RUN_TMP/rss-peak until stopped.
start_rss_sampler() {
  local peak_file=$RUN_TMP/rss-peak
  rss_kib "$@" > "$peak_file"
  (
    peak=0
    while :; do
      now=$(rss_kib "$@")
      if [ "$now" -gt "$peak" ]; then peak=$now; echo "$peak" > "$peak_file"; fi
      sleep 0.1
    done
  ) &
  SAMPLER_PID=$!
}

# Stops the sampler and sets RSS_PEAK_KIB.
stop_rss_sampler() {
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
  RSS_PEAK_KIB=$(cat "$RUN_TMP/rss-peak")
}

fact() {  # target key value unit
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$FACTS"
}

# --- wrk ----------------------------------------------------------------------

# The server under test, set by start_somnium and run_peer.
TARGET=""
SERVER_PID=""
BASE_URL=""
SERVER_LOG=""

# Counts requests with the given status pattern in the Somnium log since a byte offset.
log_count() {  # offset extended-regex
  [ -n "$SERVER_LOG" ] && [ -f "$SERVER_LOG" ] || { echo ""; return; }
  tail -c +"$(($1 + 1))" "$SERVER_LOG" | grep -cE "$2" || true
}

log_size() {
  if [ -n "$SERVER_LOG" ] && [ -f "$SERVER_LOG" ]; then stat -c %s "$SERVER_LOG"; else echo 0; fi
}

DB_LOCKED_PATTERN='database is locked|database table is locked|SQLITE_BUSY|SQLITE_LOCKED'

# Parses the RESULT line of a wrk output into one results.tsv row.
# cpu_pct is the server's CPU time over the wall time of all loads of the measurement.
record_result() {  # suite conns rep output cpu_s wall_s rss_before_kib rss_peak_kib status5xx status429 locked
  local suite=$1 conns=$2 rep=$3 output=$4 cpu_s=$5 wall_s=$6 rss_before=$7 rss_peak=$8 s5xx=$9 s429=${10} locked=${11}
  local line pair key extra=""
  line=$(grep '^RESULT ' <<<"$output" | head -1 || true)
  [ -n "$line" ] || fail "wrk printed no result for $TARGET $suite: $output"
  local requests duration_s rps p50_ms p90_ms p99_ms max_ms non2xx sock_errors timeouts
  for pair in ${line#RESULT }; do
    key=${pair%%=*}
    case "$key" in
      requests|duration_s|rps|p50_ms|p90_ms|p99_ms|max_ms|non2xx|sock_errors|timeouts) printf -v "$key" '%s' "${pair#*=}" ;;
      *) extra="${extra:+$extra }$pair" ;;
    esac
  done
  local cpu_pct
  cpu_pct=$(awk -v c="$cpu_s" -v d="$wall_s" 'BEGIN {printf "%.0f", 100 * c / d}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$TARGET" "$suite" "$conns" "$rep" "$requests" "$duration_s" "$rps" "$p50_ms" "$p90_ms" "$p99_ms" "$max_ms" \
    "$non2xx" "$sock_errors" "$timeouts" "$s5xx" "$s429" "$locked" "$cpu_s" "$cpu_pct" \
    "$(kib_to_mib "$rss_before")" "$(kib_to_mib "$rss_peak")" "$(cut -d' ' -f1 /proc/loadavg)" "$extra" >> "$RESULTS"
  printf '  %-22s %-20s c=%-3s %10s req/s  p50 %8s ms  p99 %8s ms  max %8s ms  non2xx %s  sock %s  cpu %s%%  rss %s MiB\n' \
    "$TARGET" "$suite" "$conns" "$rps" "$p50_ms" "$p99_ms" "$max_ms" "$non2xx" "$((sock_errors + timeouts))" "$cpu_pct" \
    "$(kib_to_mib "$rss_peak")" >&2
}

# Runs wrk once, or twice at once for the storm and contention scenarios, while sampling the
# server's CPU time and RSS. Each load is "suite conns threads duration script path".
measure() {  # rep load [load]
  local rep=$1; shift
  local pids ticks0 ticks1 rss_before offset perf_pid="" i
  mapfile -t pids < <(tree_pids "$SERVER_PID")
  rss_before=$(rss_kib "${pids[@]}")
  offset=$(log_size)
  for ((i = 1; i <= $#; i++)); do
    local load=${!i} suite
    suite=${load%% *}
    if [[ " $PERF_SUITES " == *" $suite "* ]] && [ -z "$perf_pid" ] && command -v perf >/dev/null; then
      perf record -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$OUT_DIR/perf-$TARGET-$suite.data" \
        -- sleep "${DURATION%s}" > "$OUT_DIR/perf-$TARGET-$suite.log" 2>&1 &
      perf_pid=$!
    fi
  done
  start_rss_sampler "${pids[@]}"
  ticks0=$(cpu_ticks "${pids[@]}")
  local wall0
  wall0=$(date +%s%N)
  local outputs=() wrk_pids=()
  for ((i = 1; i <= $#; i++)); do
    local suite conns threads duration script path
    read -r suite conns threads duration script path <<<"${!i}"
    export WRK_NONCE=$rep-$i-$(date +%s%N) BENCH_THREADS=$threads
    outputs+=("$RUN_TMP/wrk-$i.out")
    wrk -t"$threads" -c"$conns" -d"$duration" --timeout "$TIMEOUT" -s "$BENCH_WRK_DIR/$script" "$BASE_URL$path" \
      > "$RUN_TMP/wrk-$i.out" 2>&1 &
    wrk_pids+=($!)
    # The second load starts 1 s after the first, so that it runs entirely inside it.
    if [ "$i" -lt "$#" ]; then sleep 1; fi
  done
  for i in "${!wrk_pids[@]}"; do wait "${wrk_pids[$i]}" || true; done
  ticks1=$(cpu_ticks "${pids[@]}")
  local wall_s
  wall_s=$(awk -v n=$(($(date +%s%N) - wall0)) 'BEGIN {printf "%.3f", n / 1e9}')
  stop_rss_sampler
  if [ -n "$perf_pid" ]; then wait "$perf_pid" 2>/dev/null || true; fi
  local cpu_s s5xx s429 locked=""
  cpu_s=$(awk -v t=$((ticks1 - ticks0)) -v k="$CLK_TCK" 'BEGIN {printf "%.2f", t / k}')
  s5xx=$(log_count "$offset" '"message":"request".*"status":5[0-9][0-9]')
  s429=$(log_count "$offset" '"message":"request".*"status":429')
  if [ -n "$SERVER_LOG" ]; then locked=$(log_count "$offset" "$DB_LOCKED_PATTERN"); fi
  for ((i = 1; i <= $#; i++)); do
    local suite conns
    read -r suite conns _ <<<"${!i}"
    record_result "$suite" "$conns" "$rep" "$(cat "${outputs[$((i - 1))]}")" "$cpu_s" "$wall_s" "$rss_before" \
      "$RSS_PEAK_KIB" "$s5xx" "$s429" "$locked"
  done
}

# Runs one workload REPEATS times after an optional warm-up. Workloads that spend refresh
# tokens get no warm-up, because it would spend the tokens of the measured run. They pass a
# command instead that makes fresh tokens before every repeat.
suite() {  # suite conns script path warmup(yes|no) [prepare-command...]
  local name=$1 conns=$2 script=$3 path=$4 warmup=$5 rep
  shift 5
  if [ "$warmup" = yes ] && [ "$WARMUP" != 0 ]; then
    WRK_NONCE=warm-$(date +%s%N) wrk -t"$THREADS" -c"$conns" -d"$WARMUP" --timeout "$TIMEOUT" \
      -s "$BENCH_WRK_DIR/$script" "$BASE_URL$path" >/dev/null 2>&1 || true
  fi
  for rep in $(seq "$REPEATS"); do
    if [ $# -gt 0 ]; then "$@"; fi
    measure "$rep" "$name $conns $THREADS $DURATION $script $path"
  done
}

# --- seeding through the API ----------------------------------------------------

seed_users() {  # register-path prefix extra-json
  python3 "$HERE/seed.py" register "$BASE_URL" "$1" "$USERS" "$2-$BENCH_RUN_ID" "$BENCH_PASSWORD" \
    "$RUN_TMP/users-$TARGET.txt" "$3"
  export BENCH_USERS_FILE=$RUN_TMP/users-$TARGET.txt
}

# Logs in COUNT times and writes the refresh tokens of those sessions to BENCH_TOKENS_FILE.
make_refresh_tokens() {  # count
  python3 "$HERE/seed.py" login "$BASE_URL" "$LOGIN_PATH" "$LOGIN_FORMAT" "$BENCH_USERS_FILE" "$BENCH_PASSWORD" \
    "$1" "$RUN_TMP/tokens-$TARGET.txt" refresh_token
  export BENCH_TOKENS_FILE=$RUN_TMP/tokens-$TARGET.txt
}

# Logs in once and exports the header line of a fresh access token (valid 15 minutes).
fresh_access_token() {
  python3 "$HERE/seed.py" login "$BASE_URL" "$LOGIN_PATH" "$LOGIN_FORMAT" "$BENCH_USERS_FILE" "$BENCH_PASSWORD" \
    1 "$RUN_TMP/access-$TARGET.txt" access_token
  export BENCH_AUTH_HEADER="Authorization: Bearer $(head -1 "$RUN_TMP/access-$TARGET.txt")"
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "$BENCH_AUTH_HEADER" "$BASE_URL$ME_PATH")
  [ "$status" = 200 ] || fail "$TARGET: GET $ME_PATH with a fresh token returned $status"
}

# Refresh tokens for one refresh workload: every connection needs a session of its own, and
# each wrk thread one more, because wrk calls request() once before the run to check the
# script, which spends a token of the first thread.
tokens_for_refresh() { make_refresh_tokens $((CONNS + THREADS)); }
# The mixed workload refreshes on few connections at once, but keeps a pool per thread.
tokens_for_mixed() { make_refresh_tokens $((2 * CONNS)); fresh_access_token; }

# --- Somnium --------------------------------------------------------------------

SOMNIUM_BIN=""
SOMNIUM_ENV=()

build_somnium() {
  log "building Somnium (cargo build --release -p somnium --locked)"
  (cd "$ROOT" && cargo build --release -p somnium --locked)
  SOMNIUM_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/somnium
  [ -x "$SOMNIUM_BIN" ] || fail "the build left no binary at $SOMNIUM_BIN"
}

# Polls a URL every 10 ms until it returns 200, then prints the milliseconds since $1 (a
# nanosecond timestamp). Fails when the process exits or the timeout passes first.
wait_for_200() {  # started-ns url pid timeout-s
  local started=$1 url=$2 pid=$3 deadline=$(($(date +%s) + $4))
  while [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)" != 200 ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.01
  done
  echo $((($(date +%s%N) - started) / 1000000))
}

# Starts Somnium with SOMNIUM_ENV in its own directory (so no .env file is read) and a clean
# environment, and sets READY_MS to the milliseconds until /health/ready returned 200.
start_somnium() {  # workdir
  local workdir=$1 port started
  port=$(free_port)
  BASE_URL=http://127.0.0.1:$port
  mkdir -p "$workdir"
  started=$(date +%s%N)
  (cd "$workdir" && exec env -i PATH="$PATH" HOME="$HOME" "${SOMNIUM_ENV[@]}" SOMNIUM_LISTEN_ADDR="127.0.0.1:$port" \
    "$SOMNIUM_BIN" serve >> "$SERVER_LOG" 2>&1) &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  READY_MS=$(wait_for_200 "$started" "$BASE_URL/health/ready" "$SERVER_PID" 60) \
    || fail "$TARGET did not become ready; last log lines: $(tail -5 "$SERVER_LOG")"
}

stop_server() {
  stop_pid "$SERVER_PID"
  forget_pid "$SERVER_PID"
}

run_somnium() {  # target [extra environment...]
  TARGET=$1
  shift
  local workdir=$RUN_TMP/$TARGET
  SERVER_LOG=$OUT_DIR/server-$TARGET.log
  local rate=$BENCH_RATE_LIMIT
  SOMNIUM_ENV=(
    RUST_LOG="$BENCH_RUST_LOG" SOMNIUM_LOG_FORMAT=json SOMNIUM_DATA_DIR="$workdir/data"
    SOMNIUM_MFA_REQUIRED_ROLES=none
    SOMNIUM_RATE_LIMIT_LOGIN="$rate" SOMNIUM_RATE_LIMIT_REGISTER="$rate"
    SOMNIUM_RATE_LIMIT_REFRESH="$rate" SOMNIUM_RATE_LIMIT_DEFAULT="$rate"
    "$@"
  )
  LOGIN_PATH=/api/v1/auth/login
  ME_PATH=/api/v1/users/me
  export LOGIN_FORMAT=json LOGIN_USER_FIELD=email ME_PATH LOGIN_PATH REFRESH_PATH=/api/v1/auth/refresh
  export REGISTER_EXTRA_JSON=',"full_name":"Bench User"'

  log "$TARGET: starting on a fresh database"
  start_somnium "$workdir"
  fact "$TARGET" ready_fresh_ms "$READY_MS" ms
  sleep "$IDLE_WAIT"
  fact "$TARGET" rss_idle_start_mib "$(kib_to_mib "$(rss_kib "$SERVER_PID")")" MiB
  seed_users /api/v1/auth/register bench '{"full_name": "Bench User"}'
  sleep "$IDLE_WAIT"
  # The same process after hashing USERS passwords: whatever the allocator kept stays here.
  fact "$TARGET" rss_idle_after_seeding_mib "$(kib_to_mib "$(rss_kib "$SERVER_PID")")" MiB

  log "$TARGET: workloads (${DURATION} each, $REPEATS repeat(s))"
  suite health "$CONNS" plain.lua /health/live yes
  suite jwks "$CONNS" plain.lua /.well-known/jwks.json yes
  fresh_access_token
  suite me "$CONNS" me.lua "$ME_PATH" yes
  local rep
  for rep in $(seq "$REPEATS"); do
    fresh_access_token
    # Login storm: 64 connections logging in (one wrk thread is plenty at argon2 rates)
    # while the token-checked GETs run as in the "me" workload.
    measure "$rep" "storm_login $CONNS 1 $((${DURATION%s} + 3))s login.lua $LOGIN_PATH" \
      "storm_me $CONNS $THREADS $DURATION me.lua $ME_PATH"
  done
  # The bound again, next to the logins, because other work on the machine changes it.
  measure_rust_hash_bound "$TARGET"
  suite login "$LOGIN_LOW_CONNS" login.lua "$LOGIN_PATH" yes
  suite login "$CONNS" login.lua "$LOGIN_PATH" yes
  suite register "$CONNS" register.lua /api/v1/auth/register yes
  suite refresh "$CONNS" refresh.lua "$REFRESH_PATH" no tokens_for_refresh
  suite mixed "$CONNS" mixed.lua "$ME_PATH" no tokens_for_mixed
  for rep in $(seq "$REPEATS"); do
    # Registrations and refresh rotations at once: both write, and on SQLite they contend
    # for the one write lock.
    make_refresh_tokens $((CONNS / 2 + 1))
    measure "$rep" "contention_refresh $((CONNS / 2)) 1 $DURATION refresh.lua $REFRESH_PATH" \
      "contention_register $((CONNS / 2)) 1 $DURATION register.lua /api/v1/auth/register"
  done

  log "$TARGET: restarting $READY_REPEATS time(s) on the existing database"
  local i
  for i in $(seq "$READY_REPEATS"); do
    stop_server
    start_somnium "$workdir"
    fact "$TARGET" ready_restart_ms "$READY_MS" ms
  done
  sleep "$IDLE_WAIT"
  fact "$TARGET" rss_idle_restarted_mib "$(kib_to_mib "$(rss_kib "$SERVER_PID")")" MiB
  fact "$TARGET" rss_high_water_restarted_mib \
    "$(kib_to_mib "$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")")" MiB
  stop_server

  fact "$TARGET" log_db_locked "$(grep -cE "$DB_LOCKED_PATTERN" "$SERVER_LOG" || true)" lines
  fact "$TARGET" log_5xx "$(grep -cE '"message":"request".*"status":5[0-9][0-9]' "$SERVER_LOG" || true)" requests
  fact "$TARGET" log_errors "$(grep -c '"level":"ERROR"' "$SERVER_LOG" || true)" lines
  grep '"level":"ERROR"' "$SERVER_LOG" | head -5 > "$OUT_DIR/errors-$TARGET.txt" || true
  [ "$KEEP_LOGS" = 1 ] || rm -f "$SERVER_LOG"
  SERVER_LOG=""
}

run_somnium_postgres() {
  require_loopback_url BENCH_POSTGRES_URL "$BENCH_POSTGRES_URL"
  require_loopback_url BENCH_REDIS_URL "$BENCH_REDIS_URL"
  local id
  id=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
  PG_ADMIN_URL=$BENCH_POSTGRES_URL
  psql "$PG_ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE somnium_bench_$id" >/dev/null \
    || fail "could not create a database on BENCH_POSTGRES_URL"
  PG_DATABASE=somnium_bench_$id
  REDIS_PREFIX=bench-$id:
  local database_url
  database_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
    "$BENCH_POSTGRES_URL" "$PG_DATABASE")
  run_somnium somnium-postgres DATABASE_URL="$database_url" REDIS_URL="$BENCH_REDIS_URL" \
    SOMNIUM_REDIS_PREFIX="$REDIS_PREFIX"
}

# --- the fastapi-users peer -------------------------------------------------------

run_peer() {
  TARGET=fastapi-users
  SERVER_LOG=""
  local port started ready
  port=$(free_port)
  BASE_URL=http://127.0.0.1:$port
  log "$TARGET: starting with 2 workers on SQLite"
  started=$(date +%s%N)
  VENV=$VENV DATA_DIR=$RUN_TMP/peer DB=sqlite bash "$PEER_DIR/run.sh" "$port" 2 > "$OUT_DIR/server-$TARGET.log" 2>&1 &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  ready=$(wait_for_200 "$started" "$BASE_URL/healthz" "$SERVER_PID" 120) \
    || fail "the peer did not start; see $OUT_DIR/server-$TARGET.log"
  fact "$TARGET" ready_fresh_ms "$ready" ms
  LOGIN_PATH=/auth/jwt/login
  ME_PATH=/users/me
  export LOGIN_FORMAT=form LOGIN_USER_FIELD=username ME_PATH LOGIN_PATH
  export REGISTER_EXTRA_JSON=''
  seed_users /auth/register peer '{}'
  sleep 2
  local pids
  mapfile -t pids < <(tree_pids "$SERVER_PID")
  fact "$TARGET" rss_idle_after_seeding_mib "$(kib_to_mib "$(rss_kib "${pids[@]}")")" MiB

  log "$TARGET: workloads (no refresh, JWKS or mixed: the peer has no refresh tokens or JWKS)"
  suite health "$CONNS" plain.lua /healthz yes
  fresh_access_token
  suite me "$CONNS" me.lua "$ME_PATH" yes
  suite login "$LOGIN_LOW_CONNS" login.lua "$LOGIN_PATH" yes
  suite login "$CONNS" login.lua "$LOGIN_PATH" yes
  suite register "$CONNS" register.lua /auth/register yes
  stop_server
}

# --- the argon2id bound -----------------------------------------------------------

RUST_ANCHORS=""

# Measures argon2id verifications per second with argon2-cffi (one process per core) and, when
# the anchors exist, with the Rust argon2 crate Somnium uses. The facts are filed under
# "machine" here and, measured again just before each Somnium target's logins, under the target.
measure_hash_bound() {
  log "argon2id bound (m=19456 KiB, t=2, p=1) with argon2-cffi, $(nproc) processes"
  while IFS=$'\t' read -r _ processes count seconds per_s; do
    fact machine "argon2cffi_verify_${processes}proc_per_s" "$per_s" "verifications/s"
  done < <("$VENV/bin/python" "$HERE/argon2_bound.py" --seconds 5)
  local anchors_run=$ANCHORS_DIR/run.sh
  if [ "${HASH_BOUND_RUST:-1}" = 1 ] && [ -f "$anchors_run" ]; then
    log "argon2id bound with the Rust argon2 crate Somnium uses (first run builds it)"
    BUILD_DIR=$TOOLS/rust-anchors bash "$anchors_run" 0 argon2 >/dev/null
    RUST_ANCHORS=$TOOLS/rust-anchors/target/release/perf-anchors
    measure_rust_hash_bound machine
  fi
}

# Files the Rust crate's figures: 1 thread, and 2 threads verifying at once. The anchors
# always use 2 threads, whatever the number of cores.
measure_rust_hash_bound() {  # fact-target
  [ -n "$RUST_ANCHORS" ] || return 0
  while IFS=$'\t' read -r name ns_per_op per_s _; do
    case "$name" in
      argon2id_owasp_m19456_t2_p1_verify_1thread) fact "$1" rust_argon2_verify_1thread_per_s "$per_s" "verifications/s" ;;
      argon2id_owasp_m19456_t2_p1_verify_2threads) fact "$1" rust_argon2_verify_2threads_per_s "$per_s" "verifications/s" ;;
    esac
  done < <("$RUST_ANCHORS" argon2 owasp)
}

# --- main -----------------------------------------------------------------------------

mkdir -p "$OUT_DIR"
printf 'target\tsuite\tconns\trep\trequests\tduration_s\trps\tp50_ms\tp90_ms\tp99_ms\tmax_ms\tnon2xx\tsock_errors\ttimeouts\tstatus_5xx\tstatus_429\tdb_locked\tcpu_s\tcpu_pct\trss_before_mib\trss_peak_mib\tloadavg1\tnotes\n' > "$RESULTS"
printf 'target\tkey\tvalue\tunit\n' > "$FACTS"

ensure_wrk
[ "$PEER" = 1 ] && ensure_venv
build_somnium

fact machine cpu_model "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" ""
fact machine cores "$(nproc)" ""
fact machine started_utc "$(date -u +%FT%TZ)" ""
fact machine loadavg_at_start "$(cut -d' ' -f1-3 /proc/loadavg)" ""
fact machine git_commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" ""
fact machine git_uncommitted_files "$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l)" files
fact machine settings "DURATION=$DURATION WARMUP=$WARMUP REPEATS=$REPEATS THREADS=$THREADS CONNS=$CONNS USERS=$USERS RUST_LOG=$BENCH_RUST_LOG rate=$BENCH_RATE_LIMIT" ""

measure_hash_bound
run_somnium somnium-sqlite
if [ -n "${BENCH_POSTGRES_URL:-}" ] && [ -n "${BENCH_REDIS_URL:-}" ]; then
  run_somnium_postgres
elif [ -n "${BENCH_POSTGRES_URL:-}${BENCH_REDIS_URL:-}" ]; then
  log "set both BENCH_POSTGRES_URL and BENCH_REDIS_URL to measure PostgreSQL; skipping it"
fi
[ "$PEER" = 1 ] && run_peer
fact machine finished_utc "$(date -u +%FT%TZ)" ""

python3 "$HERE/report.py" "$RESULTS" "$FACTS" > "$OUT_DIR/summary.md"
cat "$OUT_DIR/summary.md"
log "results in $OUT_DIR"
