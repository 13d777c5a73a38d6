"""Run one patient session against a live Somnium through the generated Python client.

Steps: register, sign in (bearer mode), read the profile, refresh, sign out, and three
documented errors parsed as problem+json.

Usage: python check_client.py BASE_URL

The package that openapi-python-client generates from openapi/openapi.json must be importable
as `somnium_client`; check.sh generates it and puts it on PYTHONPATH. Exits with status 1 and a
message on the first unexpected response.
"""

import sys
import uuid
from http import HTTPStatus
from typing import Any, NoReturn

from somnium_client import AuthenticatedClient, Client
from somnium_client.errors import UnexpectedStatus
from somnium_client.api.authentication import login, logout, refresh, register
from somnium_client.api.users import get_current_user
from somnium_client.models import (
    LoginRequest,
    LoginResponseBearerTokens,
    Problem,
    RefreshRequest,
    RegisterRequest,
    Role,
    TokenDelivery,
    TokenResponseBearerTokens,
    User,
)
from somnium_client.types import Response

# Accepted by the default password policy, whose rules GET /api/v1/auth/password-policy lists.
# The policy also rejects a password that contains the email's local part or the full name.
PASSWORD = "Ward-7#Lumen"
FULL_NAME = "Client Check"


class UnexpectedResponse(Exception):
    pass


def reject(step: str, response: Response[Any]) -> NoReturn:
    raise UnexpectedResponse(
        f"{step}: unexpected HTTP {int(response.status_code)} with body "
        f"{response.content.decode(errors='replace')}"
    )


def require_equal(step: str, field: str, actual: object, expected: object) -> None:
    if actual != expected:
        raise UnexpectedResponse(f"{step}: expected {field} {expected!r}, got {actual!r}")


def require_problem(step: str, response: Response[Any], status: HTTPStatus, problem_type: str) -> None:
    """Check that a failed call returned `status` as application/problem+json of kind `problem_type`."""
    if response.status_code != status or not isinstance(response.parsed, Problem):
        reject(step, response)
    problem = response.parsed
    media_type = response.headers.get("content-type", "").split(";")[0]
    require_equal(step, "media type", media_type, "application/problem+json")
    require_equal(step, "problem type", problem.type_, problem_type)
    require_equal(step, "problem status", problem.status, int(status))


def run(base_url: str) -> None:
    # raise_on_unexpected_status turns a status that the spec does not document into an error.
    with Client(base_url=base_url, raise_on_unexpected_status=True) as client:
        run_session(client, base_url)


def run_session(client: Client, base_url: str) -> None:
    email = f"client-check-{uuid.uuid4()}@example.test"
    registration = RegisterRequest(email=email, password=PASSWORD, full_name=FULL_NAME)

    registered = register.sync_detailed(client=client, body=registration)
    if registered.status_code != HTTPStatus.CREATED or not isinstance(registered.parsed, User):
        reject("register", registered)
    user = registered.parsed
    require_equal("register", "email", user.email, email)
    require_equal("register", "role", user.role, Role.PATIENT)

    duplicate = register.sync_detailed(client=client, body=registration)
    require_problem("register again", duplicate, HTTPStatus.CONFLICT, "urn:somnium:problem:email-taken")

    wrong_password = login.sync_detailed(
        client=client, body=LoginRequest(email=email, password=PASSWORD + "x")
    )
    require_problem(
        "login with a wrong password",
        wrong_password,
        HTTPStatus.UNAUTHORIZED,
        "urn:somnium:problem:invalid-credentials",
    )

    # The response is a union discriminated by `token_delivery`. A patient needs no second
    # factor, so anything but the bearer variant is unexpected here.
    signed_in = login.sync_detailed(
        client=client,
        body=LoginRequest(email=email, password=PASSWORD, token_delivery=TokenDelivery.BEARER),
    )
    if signed_in.status_code != HTTPStatus.OK or not isinstance(signed_in.parsed, LoginResponseBearerTokens):
        reject("login", signed_in)
    login_tokens = signed_in.parsed
    require_equal("login", "token_type", login_tokens.token_type, "Bearer")

    with AuthenticatedClient(
        base_url=base_url, token=login_tokens.access_token, raise_on_unexpected_status=True
    ) as authenticated:
        me = get_current_user.sync_detailed(client=authenticated)
    if me.status_code != HTTPStatus.OK or not isinstance(me.parsed, User):
        reject("get the current user", me)
    require_equal("get the current user", "id", me.parsed.id, user.id)
    require_equal("get the current user", "email", me.parsed.email, email)

    refreshed = refresh.sync_detailed(
        client=client,
        body=RefreshRequest(refresh_token=login_tokens.refresh_token, token_delivery=TokenDelivery.BEARER),
    )
    if refreshed.status_code != HTTPStatus.OK or not isinstance(refreshed.parsed, TokenResponseBearerTokens):
        reject("refresh", refreshed)
    tokens = refreshed.parsed
    if tokens.refresh_token == login_tokens.refresh_token:
        raise UnexpectedResponse("refresh: the refresh token was not rotated")

    with AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    ) as authenticated:
        signed_out = logout.sync_detailed(client=authenticated)
    if signed_out.status_code != HTTPStatus.NO_CONTENT:
        reject("logout", signed_out)

    after_logout = refresh.sync_detailed(client=client, body=RefreshRequest(refresh_token=tokens.refresh_token))
    require_problem(
        "refresh after logout", after_logout, HTTPStatus.UNAUTHORIZED, "urn:somnium:problem:invalid-token"
    )


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python check_client.py BASE_URL", file=sys.stderr)
        return 2
    try:
        run(sys.argv[1])
    except (UnexpectedResponse, UnexpectedStatus) as error:
        print(f"Python client check failed: {error}", file=sys.stderr)
        return 1
    print("Python client: every step returned the documented response")
    return 0


if __name__ == "__main__":
    sys.exit(main())
