#!/usr/bin/env bash
# Fuzzes a freshly started Somnium against the committed spec openapi/openapi.json with
# schemathesis. Every operation gets generated valid and invalid requests, the authenticated ones
# as an administrator. The run fails when a response is a 5xx, or when its status code, content
# type, headers or body do not match what the spec documents for the operation.
#
# No operation is excluded. The ones that end the fuzzing session (logout, logout-all, ending a
# session, ending a user's sessions, changing a user's role) are fuzzed too: on a 401,
# schemathesis asks hooks.py for a new token, which signs in again, and replays the request.
# NOTE: no fuzzed login returns a second-factor challenge, because the service runs with
# SOMNIUM_MFA_REQUIRED_ROLES=none and the fuzzer cannot confirm a TOTP enrollment. The second
# sign-in steps (mfa/enroll, mfa/enroll/confirm, mfa/verify) therefore get only invalid
# challenge tokens, and only their 401 and validation responses are checked.
#
# Usage: bash openapi/fuzz/check.sh
#   SOMNIUM_FUZZ_EXAMPLES  maximum generated test cases per operation (default 200, which
#                          schemathesis ran in about 100 seconds on a 2-core machine)
#   SOMNIUM_FUZZ_SEED      seed of a previous run to repeat it (the run prints its seed)
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '== %s\n' "$*" >&2; }

version=4.32.5
tools="${XDG_CACHE_HOME:-$HOME/.cache}/somnium-tools/schemathesis-$version"
examples=${SOMNIUM_FUZZ_EXAMPLES:-200}
admin_email=fuzz-operator@example.test
# Meets the default password policy, which also rejects a password containing the user's name
# or email, so the administrator is not called "Admin".
admin_password='Admin-Ward-7#Lumen'

install_schemathesis() {
  # Schemathesis, pinned, in a virtualenv kept in a cache outside the checkout. The marker file
  # is written last, so an interrupted install is redone.
  if [ -f "$tools/.installed" ]; then return 0; fi
  log "installing schemathesis $version"
  rm -rf "$tools"
  mkdir -p "$(dirname "$tools")"
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
  touch "$tools/.installed"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs the service binary with only the settings given here: a SOMNIUM_* variable of the
# caller's environment (such as the test suite's SOMNIUM_TEST_DATABASE_URL) or a DATABASE_URL
# would change what is fuzzed, or be rejected as unknown.
somnium() {
  # `serve` runs in the background: exec makes the server itself the background job, so the
  # PID the EXIT trap stops is the server's and not that of a subshell around it.
  local run=()
  if [ "${1:-}" = serve ]; then run=(exec); fi
  "${run[@]}" env -i PATH="$PATH" \
    SOMNIUM_DATA_DIR="$work/data" \
    SOMNIUM_LISTEN_ADDR="127.0.0.1:$port" \
    SOMNIUM_MFA_REQUIRED_ROLES=none \
    SOMNIUM_RATE_LIMIT_LOGIN=100000/minute \
    SOMNIUM_RATE_LIMIT_REGISTER=100000/minute \
    SOMNIUM_RATE_LIMIT_REFRESH=100000/minute \
    SOMNIUM_RATE_LIMIT_DEFAULT=100000/minute \
    target/debug/somnium "$@"
}

wait_until_ready() {
  for _ in $(seq 1 60); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      log "the service exited during start-up; its log:"
      cat "$work/server.log" >&2
      return 1
    fi
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "$base_url/health/ready" >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  log "the service was not ready within 60 seconds; its log:"
  cat "$work/server.log" >&2
  return 1
}

sign_in() {
  SOMNIUM_FUZZ_URL="$base_url" SOMNIUM_FUZZ_EMAIL="$admin_email" SOMNIUM_FUZZ_PASSWORD="$admin_password" \
    "$tools/bin/python" - <<'EOF'
import os
import sys

import requests

response = requests.post(
    os.environ["SOMNIUM_FUZZ_URL"] + "/api/v1/auth/login",
    json={"email": os.environ["SOMNIUM_FUZZ_EMAIL"], "password": os.environ["SOMNIUM_FUZZ_PASSWORD"]},
    timeout=30,
)
if response.status_code != 200:
    sys.exit(f"signing in as the administrator failed with HTTP {response.status_code}: {response.text}")
tokens = response.json()
me = requests.get(
    os.environ["SOMNIUM_FUZZ_URL"] + "/api/v1/users/me",
    headers={"Authorization": "Bearer " + tokens["access_token"]},
    timeout=30,
)
me.raise_for_status()
print(tokens["access_token"], tokens["device_token"], me.json()["id"])
EOF
}

stop_server() {
  if [ -n "${server_pid:-}" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}

install_schemathesis
log "building the service"
cargo build -q -p somnium --locked

work=$(mktemp -d)
server_pid=
trap stop_server EXIT
trap 'exit 130' INT TERM
mkdir "$work/data"
port=$(free_port)
base_url="http://127.0.0.1:$port"

log "starting the service on $base_url"
somnium serve >"$work/server.log" 2>&1 &
server_pid=$!
wait_until_ready

log "creating the administrator $admin_email"
if ! printf '%s\n' "$admin_password" | somnium create-admin --email "$admin_email" --full-name "Fuzz Operator" \
  >"$work/create-admin.log" 2>&1; then
  cat "$work/create-admin.log" >&2
  log "creating the administrator failed"
  exit 1
fi
credentials=$(sign_in)
read -r token device_token admin_id <<<"$credentials"

log "fuzzing every operation of openapi/openapi.json, at most $examples cases per operation"
spec="$PWD/openapi/openapi.json"
hooks="$PWD/openapi/fuzz/hooks.py"
seed=()
if [ -n "${SOMNIUM_FUZZ_SEED:-}" ]; then seed=(--seed "$SOMNIUM_FUZZ_SEED"); fi
set +e
# Schemathesis writes its example database and cache into the working directory, so it runs in
# the temporary one. One worker: with two, generation threads parsing source at the same time
# hit a CPython 3.11.7 bug ("SystemError: AST constructor recursion depth mismatch") inside
# Hypothesis, and two were no faster here anyway.
(
  cd "$work"
  SCHEMATHESIS_HOOKS="$hooks" \
    SOMNIUM_FUZZ_URL="$base_url" SOMNIUM_FUZZ_EMAIL="$admin_email" SOMNIUM_FUZZ_PASSWORD="$admin_password" \
    SOMNIUM_FUZZ_TOKEN="$token" SOMNIUM_FUZZ_DEVICE_TOKEN="$device_token" SOMNIUM_FUZZ_ADMIN_ID="$admin_id" \
    "$tools/bin/st" run "$spec" \
    --url "$base_url" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "$examples" \
    --workers 1 \
    "${seed[@]}"
)
status=$?
set -e
if [ "$status" -ne 0 ]; then
  cp "$work/server.log" "${TMPDIR:-/tmp}/somnium-fuzz-server.log"
  log "schemathesis found failures (exit $status); the service log is in ${TMPDIR:-/tmp}/somnium-fuzz-server.log"
  exit "$status"
fi
log "no failures"
