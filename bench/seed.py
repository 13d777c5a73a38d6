"""Create the accounts and tokens a benchmark run needs, through the service's own API.

Standard library only, so the system Python runs it. Every command exits non-zero
on the first response with an unexpected status, printing the status and body.

    seed.py register BASE_URL PATH COUNT PREFIX PASSWORD OUT [EXTRA_JSON]
        registers COUNT accounts PREFIX-<n>@example.com and writes their e-mails to OUT
    seed.py login BASE_URL PATH FORMAT USERS_FILE PASSWORD COUNT OUT FIELD
        logs in COUNT times, cycling through USERS_FILE, and writes one token
        per line to OUT; FIELD is the member of the JSON response to keep
        (refresh_token or access_token) and FORMAT is json or form
"""
import concurrent.futures
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

WORKERS = 8


def post(url, body, content_type, expected):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    if status not in expected:
        raise SystemExit(f"POST {url} returned {status}, expected {sorted(expected)}: {payload[:500]!r}")
    return payload


def register(base, path, count, prefix, password, out, extra_json="{}"):
    extra = json.loads(extra_json)
    emails = [f"{prefix}-{n}@example.com" for n in range(count)]

    def one(email):
        body = json.dumps({"email": email, "password": password, **extra}).encode()
        post(base + path, body, "application/json", {200, 201})

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, emails))
    with open(out, "w") as file:
        file.write("\n".join(emails) + "\n")


def login(base, path, form, users_file, password, count, out, field):
    emails = [line.strip() for line in open(users_file) if line.strip()]

    def one(n):
        email = emails[n % len(emails)]
        if form == "form":
            body = urllib.parse.urlencode({"username": email, "password": password}).encode()
            payload = post(base + path, body, "application/x-www-form-urlencoded", {200})
        else:
            body = json.dumps({"email": email, "password": password}).encode()
            payload = post(base + path, body, "application/json", {200})
        token = json.loads(payload).get(field)
        if not token:
            raise SystemExit(f"the login response has no {field}: {payload[:300]!r}")
        return token

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        tokens = list(pool.map(one, range(count)))
    with open(out, "w") as file:
        file.write("\n".join(tokens) + "\n")


def main(argv):
    if len(argv) >= 7 and argv[0] == "register":
        register(argv[1], argv[2], int(argv[3]), argv[4], argv[5], argv[6], *argv[7:8])
    elif len(argv) == 9 and argv[0] == "login":
        login(argv[1], argv[2], argv[3], argv[4], argv[5], int(argv[6]), argv[7], argv[8])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
