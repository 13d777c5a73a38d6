#!/usr/bin/env bash
# Checks the /docs portal of a live Somnium in headless Chromium: the portal lists every tag and
# every operation of the spec, no Content-Security-Policy violation happens, no request leaves
# 127.0.0.1, and /openapi.json and /openapi.yaml return 200 with their content types. It saves
# a full-page screenshot of the portal and prints its path.
#
# Usage: bash openapi/portal/check.sh [SCREENSHOT.png]
# The screenshot goes to the argument, else to $SOMNIUM_PORTAL_SCREENSHOT, else to a new temp
# directory. Installs Debian's chromium and curl with apt-get and the pinned npm packages (into
# ${XDG_CACHE_HOME:-$HOME/.cache}/somnium-tools/) when they are missing, builds the server with
# cargo and starts it on a free 127.0.0.1 port with a fresh data directory.
set -euo pipefail

portal_dir=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$portal_dir/../.." && pwd)
chromium=/usr/bin/chromium

log() { printf '== %s\n' "$*" >&2; }

screenshot=${1:-${SOMNIUM_PORTAL_SCREENSHOT:-}}
if [ -z "$screenshot" ]; then
  screenshot="$(mktemp -d)/portal.png"
fi
mkdir -p "$(dirname "$screenshot")"
screenshot="$(cd "$(dirname "$screenshot")" && pwd)/$(basename "$screenshot")"

install_system_packages() {
  local missing=()
  [ -x "$chromium" ] || missing+=(chromium)
  command -v curl >/dev/null || missing+=(curl)
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  log "installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

check_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "node and npm are missing; install Node.js 20 or newer"
    return 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    log "node $(node --version) is too old: playwright-core needs Node.js 20 or newer"
    return 1
  fi
}

# Installs the locked npm packages into a cache directory named after the lockfile's hash, so a
# fresh clone reuses them and a changed lockfile gets its own directory. The install goes to a
# temp directory first, so an interrupted one leaves no half-filled cache behind.
install_node_packages() {
  local lock_hash
  lock_hash=$(sha256sum "$portal_dir/package-lock.json" | cut -c1-16)
  tools="${XDG_CACHE_HOME:-$HOME/.cache}/somnium-tools/portal-$lock_hash"
  if [ -f "$tools/node_modules/playwright-core/package.json" ]; then return 0; fi
  log "installing the npm packages of openapi/portal/package-lock.json into $tools"
  local staging
  mkdir -p "$(dirname "$tools")"
  staging=$(mktemp -d "${tools}.tmp.XXXXXX")
  cp "$portal_dir/package.json" "$portal_dir/package-lock.json" "$staging/"
  if ! (cd "$staging" && npm ci --no-audit --no-fund --silent); then
    rm -rf "$staging"
    log "npm ci failed in $staging"
    return 1
  fi
  rm -rf "$tools"
  mv "$staging" "$tools"
}

free_port() {
  node -e '
    const server = require("node:net").createServer();
    server.listen(0, "127.0.0.1", () => { console.log(server.address().port); server.close(); });'
}

server_pid=
data_dir=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    log "stopping the server (pid $server_pid)"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$data_dir" ]; then rm -rf "$data_dir"; fi
}
trap stop_server EXIT

print_server_log() {
  log "last lines of the server log:"
  tail -n 40 "$data_dir/server.log" >&2 || true
}

install_system_packages
check_node
install_node_packages

log "building somnium"
(cd "$repo_root" && cargo build -q -p somnium --locked)

data_dir=$(mktemp -d)
port=$(free_port)
base_url="http://127.0.0.1:$port"
log "starting target/debug/somnium on $base_url with data directory $data_dir"
# A clean environment, so that a DATABASE_URL, REDIS_URL or OTLP endpoint set for other work
# cannot point this server at another database or host. The working directory is the data
# directory, so no .env file of the checkout is read either.
(
  cd "$data_dir"
  exec env -i PATH="$PATH" HOME="$HOME" \
    SOMNIUM_DATA_DIR="$data_dir" \
    SOMNIUM_LISTEN_ADDR="127.0.0.1:$port" \
    SOMNIUM_SHUTDOWN_GRACE_SECONDS=1 \
    "$repo_root/target/debug/somnium"
) >"$data_dir/server.log" 2>&1 &
server_pid=$!

log "waiting for $base_url/health/ready"
ready=false
for _ in $(seq 1 120); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the server exited before it was ready"
    print_server_log
    exit 1
  fi
  if curl -fsS --noproxy '*' --max-time 2 -o /dev/null "$base_url/health/ready" 2>/dev/null; then
    ready=true
    break
  fi
  sleep 0.5
done
if [ "$ready" != true ]; then
  log "the server was not ready within 60 seconds"
  print_server_log
  exit 1
fi

log "checking the portal in headless Chromium"
status=0
NODE_PATH="$tools/node_modules" \
  SOMNIUM_BASE_URL="$base_url" \
  SOMNIUM_PORTAL_SCREENSHOT="$screenshot" \
  CHROMIUM_PATH="$chromium" \
  node --test --test-reporter=spec "$portal_dir/portal.test.cjs" || status=$?
if [ "$status" -ne 0 ]; then
  log "the portal check failed"
  print_server_log
  exit "$status"
fi
log "the portal check passed; screenshot: $screenshot"
