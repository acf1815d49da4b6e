"""Schemathesis hooks for Storefront: every request carries an administrator's bearer token.

The token is fetched by logging in and fetched again whenever a response says 401. The
fuzzer changes the very account it uses (logout-all ends its sessions, PUT /users/me
renames its email, PATCH /users/{id} may deactivate it once another admin exists), so when
the administrator can no longer log in, a new one is made with `storefront create-admin`,
as an operator would.
"""

import itertools
import json
import os
import subprocess
import urllib.error
import urllib.request

import schemathesis

PASSWORD = os.environ["ADMIN_PASSWORD"]
_admins = itertools.count(1)
_email = os.environ["ADMIN_EMAIL"]


def _login(email: str) -> str | None:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{os.environ['STOREFRONT_URL']}/api/v1/auth/login",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["access_token"]
    except urllib.error.HTTPError:
        return None


def _new_admin() -> str:
    email = f"admin-{next(_admins)}@schemathesis.test"
    subprocess.run(
        [os.environ["STOREFRONT_BIN"], "create-admin", "--email", email, "--name", "Admin"],
        env={**os.environ, "STOREFRONT_ADMIN_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    return email


@schemathesis.auth()
class AdminBearer:
    def get(self, case, context):
        global _email
        token = _login(_email)
        if token is None:
            _email = _new_admin()
            token = _login(_email)
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
