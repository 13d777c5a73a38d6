"""Schemathesis hooks for openapi/fuzz/check.sh: authenticate every request as the fuzzing
administrator, and keep that administrator able to sign in.

check.sh signs in once and passes the access token in SOMNIUM_FUZZ_TOKEN. Some fuzzed requests
end the session of that token or every session of its user. These are logout and logout-all,
ending a session (schemathesis reuses the session ids that listSessions returns), ending a
user's sessions, and changing a user's role or status (it reuses the user ids that other
responses return). When a response with the token is 401, schemathesis drops the cached token,
calls `get` again and replays the request once, so `get` then signs in anew.
"""

import os
import uuid

import requests
import schemathesis

ADMIN_ID = os.environ["SOMNIUM_FUZZ_ADMIN_ID"]


@schemathesis.auth()
class SomniumAdministrator:
    def __init__(self):
        self.initial_token = os.environ["SOMNIUM_FUZZ_TOKEN"]

    def get(self, case, context):
        if self.initial_token is not None:
            token, self.initial_token = self.initial_token, None
            return token
        # The fuzzed logins with wrong passwords lock out this client's IP address. A device
        # token from an earlier login has this client's attempts counted on their own, so that
        # lock does not block the administrator.
        response = requests.post(
            os.environ["SOMNIUM_FUZZ_URL"] + "/api/v1/auth/login",
            json={
                "email": os.environ["SOMNIUM_FUZZ_EMAIL"],
                "password": os.environ["SOMNIUM_FUZZ_PASSWORD"],
                "device_token": os.environ["SOMNIUM_FUZZ_DEVICE_TOKEN"],
            },
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"signing in again failed with HTTP {response.status_code}: {response.text}")
        return response.json()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    """Point a change of role or status at an unknown user instead of the fuzzing administrator.

    Once the fuzzer has created a second ADMIN, the service lets it disable the fuzzing
    administrator, and every later sign-in would fail. Such a request becomes a 404 case.
    """
    if case.operation.label == "PATCH /api/v1/admin/users/{id}" and case.path_parameters.get("id") == ADMIN_ID:
        case.path_parameters["id"] = str(uuid.uuid4())
