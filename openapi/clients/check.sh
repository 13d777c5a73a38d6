#!/usr/bin/env bash
# Generates a Python and a TypeScript client from openapi/openapi.json and runs a short patient
# session through each against a freshly built Somnium on a free 127.0.0.1 port. The pinned
# generators are installed once into ${XDG_CACHE_HOME:-$HOME/.cache}/somnium-tools/. Generated
# code, the server's data and its log live in a temporary directory that is removed on exit.
# Needs python3 (3.11 or newer), node (20 or newer) with npm, curl and cargo.
set -euo pipefail

clients_dir="$(cd "$(dirname "$0")" && pwd)"
cd "$clients_dir/../.."
spec="$PWD/openapi/openapi.json"
tools_root="${XDG_CACHE_HOME:-$HOME/.cache}/somnium-tools"

log() { printf '== %s\n' "$*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/somnium-clients.XXXXXX")
server_pid=""

stop_server() {
  kill "$server_pid" 2>/dev/null || return 0
  # Somnium finishes in-flight requests on SIGTERM. A server still running after 15 seconds is killed.
  for _ in $(seq 1 15); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    log "somnium (PID $server_pid) did not stop within 15 seconds; killing it"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  if [ -n "$server_pid" ]; then
    stop_server
    if [ "$status" -ne 0 ]; then
      log "the last lines of the somnium log:"
      tail -n 40 "$work/server.log" >&2 || true
    fi
  fi
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    log "the generated-client check failed (exit status $status)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_tools() {
  local command
  for command in python3 node npm curl cargo sha256sum; do
    if ! command -v "$command" >/dev/null; then
      log "$command is missing; install it and run this script again"
      exit 1
    fi
  done
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    log "python3 is $(python3 --version 2>&1); the generated Python client needs 3.11 or newer"
    exit 1
  fi
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    log "node is $(node --version); the TypeScript client needs Node 20 or newer"
    exit 1
  fi
}

# Prints the first 12 hex digits of a file's SHA-256, so a changed pin gets a new cache directory.
short_hash() { sha256sum "$1" | cut -c1-12; }

install_python_tools() {
  local requirements="$clients_dir/python/requirements.txt"
  local python_version
  python_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  python_tools="$tools_root/openapi-python-client-py$python_version-$(short_hash "$requirements")"
  # The marker file is written last, so an interrupted installation is redone.
  if [ -f "$python_tools/.installed" ]; then return 0; fi
  log "installing openapi-python-client and its pinned dependencies into $python_tools"
  rm -rf "$python_tools"
  python3 -m venv "$python_tools"
  "$python_tools/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  touch "$python_tools/.installed"
}

install_typescript_tools() {
  local lockfile="$clients_dir/typescript/package-lock.json"
  typescript_tools="$tools_root/typescript-client-$(short_hash "$lockfile")"
  if [ -f "$typescript_tools/.installed" ]; then return 0; fi
  log "installing openapi-typescript, openapi-fetch and typescript from package-lock.json into $typescript_tools"
  rm -rf "$typescript_tools"
  mkdir -p "$typescript_tools"
  cp "$clients_dir/typescript/package.json" "$lockfile" "$typescript_tools/"
  (cd "$typescript_tools" && npm ci --no-audit --no-fund --silent)
  touch "$typescript_tools/.installed"
}

generate_python_client() {
  log "generating the Python client from openapi/openapi.json"
  mkdir -p "$work/python"
  # --fail-on-warning fails on any schema or operation that the generator would leave out. The
  # generator formats its output with ruff when ruff is on PATH.
  if ! (cd "$work/python" && PATH="$python_tools/bin:$PATH" "$python_tools/bin/openapi-python-client" generate \
    --path "$spec" --output-path "$work/python/somnium_client" --meta none --fail-on-warning); then
    log "openapi-python-client could not generate every schema and operation of openapi/openapi.json; see its warnings above"
    return 1
  fi
}

generate_typescript_client() {
  log "generating the TypeScript types from openapi/openapi.json"
  local dir="$work/typescript"
  mkdir -p "$dir"
  cp "$clients_dir/typescript/package.json" "$clients_dir/typescript/tsconfig.json" \
    "$clients_dir/typescript/check-client.ts" "$dir/"
  ln -s "$typescript_tools/node_modules" "$dir/node_modules"
  # openapi-typescript 7 makes every property that has a `default` required, so callers would
  # have to send `remember_me` and `token_delivery`. `false` keeps such properties optional.
  (cd "$dir" && node_modules/.bin/openapi-typescript "$spec" --default-non-nullable false --output somnium.d.ts)
  log "type-checking the TypeScript client with tsc --strict"
  (cd "$dir" && node_modules/.bin/tsc --project tsconfig.json --strict)
}

start_server() {
  log "building somnium"
  cargo build -q -p somnium --locked
  local binary="$PWD/${CARGO_TARGET_DIR:-target}/debug/somnium"

  # The port is free when chosen, but another process could take it before somnium binds. Then
  # somnium exits with an error, and the readiness loop below reports it.
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  base_url="http://127.0.0.1:$port"
  mkdir "$work/data"

  log "starting somnium on $base_url"
  # A clean environment and the temporary directory as working directory keep a developer's
  # DATABASE_URL, REDIS_URL or .env from steering the check. The two clients send four logins
  # between them, close to the default limit of 5 per minute per IP, so every limit is raised
  # to keep a longer client program clear of 429.
  (cd "$work" && exec env -i PATH="$PATH" HOME="$HOME" \
    SOMNIUM_DATA_DIR="$work/data" \
    SOMNIUM_LISTEN_ADDR="127.0.0.1:$port" \
    SOMNIUM_RATE_LIMIT_LOGIN=1000/minute \
    SOMNIUM_RATE_LIMIT_REGISTER=1000/minute \
    SOMNIUM_RATE_LIMIT_REFRESH=1000/minute \
    SOMNIUM_RATE_LIMIT_DEFAULT=1000/minute \
    "$binary") >"$work/server.log" 2>&1 &
  server_pid=$!

  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$base_url/health/ready" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      log "somnium exited before /health/ready returned 200"
      return 1
    fi
    sleep 1
  done
  log "somnium did not become ready within 60 seconds"
  return 1
}

run_clients() {
  log "running the Python client against somnium"
  PYTHONPATH="$work/python" PYTHONDONTWRITEBYTECODE=1 \
    "$python_tools/bin/python" "$clients_dir/python/check_client.py" "$base_url"
  log "running the TypeScript client against somnium"
  node "$work/typescript/dist/check-client.js" "$base_url"
}

require_tools
install_python_tools
install_typescript_tools
# Generation comes before the build, so a spec that a generator rejects fails in seconds.
generate_python_client
generate_typescript_client
start_server
run_clients
log "both generated clients completed the session against somnium"
