// Runs one patient session against a live Somnium through openapi-fetch, typed by the types
// that openapi-typescript generates from openapi/openapi.json: register, sign in (bearer mode),
// read the profile, refresh, sign out, and three documented errors parsed as problem+json.
//
// Usage: node dist/check-client.js BASE_URL
// Exits with status 1 and a message on the first unexpected response.
import { randomUUID } from "node:crypto";

import createClient from "openapi-fetch";

import type { components, paths } from "./somnium.js";

type Problem = components["schemas"]["Problem"];

// Accepted by the default password policy, whose rules GET /api/v1/auth/password-policy lists.
// The policy also rejects a password that contains the email's local part or the full name.
const PASSWORD = "Ward-7#Lumen";
const FULL_NAME = "Client Check";

class UnexpectedResponse extends Error {}

function reject(step: string, response: Response, body: unknown): never {
  throw new UnexpectedResponse(
    `${step}: unexpected HTTP ${response.status} with body ${JSON.stringify(body)}`,
  );
}

function requireEqual(step: string, field: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) {
    throw new UnexpectedResponse(
      `${step}: expected ${field} ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

// Checks that a failed call returned `status` as application/problem+json of kind `type`.
function requireProblem(
  step: string,
  response: Response,
  problem: Problem | undefined,
  status: number,
  type: string,
): void {
  if (response.status !== status || problem === undefined) {
    reject(step, response, problem);
  }
  const contentType = response.headers.get("content-type") ?? "";
  requireEqual(step, "media type", contentType.split(";")[0], "application/problem+json");
  requireEqual(step, "problem type", problem.type, type);
  requireEqual(step, "problem status", problem.status, status);
}

async function main(baseUrl: string): Promise<void> {
  const client = createClient<paths>({ baseUrl });
  const email = `client-check-${randomUUID()}@example.test`;

  const registration = { email, password: PASSWORD, full_name: FULL_NAME };
  const registered = await client.POST("/api/v1/auth/register", { body: registration });
  if (registered.response.status !== 201 || registered.data === undefined) {
    reject("register", registered.response, registered.error);
  }
  const user = registered.data;
  requireEqual("register", "email", user.email, email);
  requireEqual("register", "role", user.role, "PATIENT");

  const duplicate = await client.POST("/api/v1/auth/register", { body: registration });
  requireProblem(
    "register again",
    duplicate.response,
    duplicate.error,
    409,
    "urn:somnium:problem:email-taken",
  );

  const wrongPassword = await client.POST("/api/v1/auth/login", {
    body: { email, password: `${PASSWORD}x` },
  });
  requireProblem(
    "login with a wrong password",
    wrongPassword.response,
    wrongPassword.error,
    401,
    "urn:somnium:problem:invalid-credentials",
  );

  const login = await client.POST("/api/v1/auth/login", {
    body: { email, password: PASSWORD, token_delivery: "bearer" },
  });
  if (login.response.status !== 200 || login.data === undefined) {
    reject("login", login.response, login.error);
  }
  // The response is a union discriminated by `token_delivery`. A patient needs no second
  // factor, so anything but `bearer` is unexpected here.
  const loginTokens = login.data;
  if (loginTokens.token_delivery !== "bearer") {
    reject("login", login.response, loginTokens);
  }
  requireEqual("login", "token_type", loginTokens.token_type, "Bearer");

  const me = await client.GET("/api/v1/users/me", {
    headers: { Authorization: `Bearer ${loginTokens.access_token}` },
  });
  if (me.response.status !== 200 || me.data === undefined) {
    reject("get the current user", me.response, me.error);
  }
  requireEqual("get the current user", "id", me.data.id, user.id);
  requireEqual("get the current user", "email", me.data.email, email);

  const refreshed = await client.POST("/api/v1/auth/refresh", {
    body: { refresh_token: loginTokens.refresh_token, token_delivery: "bearer" },
  });
  if (refreshed.response.status !== 200 || refreshed.data === undefined) {
    reject("refresh", refreshed.response, refreshed.error);
  }
  const tokens = refreshed.data;
  if (tokens.token_delivery !== "bearer") {
    reject("refresh", refreshed.response, tokens);
  }
  if (tokens.refresh_token === loginTokens.refresh_token) {
    throw new UnexpectedResponse("refresh: the refresh token was not rotated");
  }

  const logout = await client.POST("/api/v1/auth/logout", {
    headers: { Authorization: `Bearer ${tokens.access_token}` },
  });
  if (logout.response.status !== 204) {
    reject("logout", logout.response, logout.error);
  }

  const afterLogout = await client.POST("/api/v1/auth/refresh", {
    body: { refresh_token: tokens.refresh_token },
  });
  requireProblem(
    "refresh after logout",
    afterLogout.response,
    afterLogout.error,
    401,
    "urn:somnium:problem:invalid-token",
  );
}

const baseUrl = process.argv[2];
if (baseUrl === undefined) {
  console.error("usage: node dist/check-client.js BASE_URL");
  process.exit(2);
}
try {
  await main(baseUrl);
  console.log("TypeScript client: every step returned the documented response");
} catch (error) {
  console.error(`TypeScript client check failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
