"""Authorize window and code exchange of the sandbox."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

from tests.sandbox.conftest import (
    BASIC_SCOPE,
    DEMO_ID,
    EMPTY_ID,
    PERSONAL_ID,
    Sandbox,
    query_of,
)


async def test_authorize_page_lists_accounts_and_buttons(sandbox: Sandbox) -> None:
    response = await sandbox.client.get(
        "/sandbox/oauth/authorize", params=sandbox.authorize_params()
    )
    page = await response.text()

    assert response.status == 200
    assert response.content_type == "text/html"
    assert "Gramlink" in page
    assert 'value="allow"' in page
    assert 'value="deny"' in page
    assert "@sandbox.demo" in page
    assert "@sandbox.personal" in page
    assert "@sandbox.empty" in page
    assert sandbox.state.client_secret not in page


async def test_authorize_page_accepts_basic_display_scopes(sandbox: Sandbox) -> None:
    response = await sandbox.client.get(
        "/sandbox/oauth/authorize", params=sandbox.authorize_params(BASIC_SCOPE)
    )

    assert response.status == 200
    assert "user_media" in await response.text()


async def test_authorize_page_escapes_state(sandbox: Sandbox) -> None:
    params = sandbox.authorize_params(oauth_state='"><script>alert(1)</script>')
    response = await sandbox.client.get("/sandbox/oauth/authorize", params=params)
    page = await response.text()

    assert response.status == 200
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


async def test_authorize_page_rejects_bad_requests(sandbox: Sandbox) -> None:
    cases = {
        "client_id": "someone-else",
        "redirect_uri": "http://127.0.0.1:1/elsewhere",
        "response_type": "token",
        "scope": "instagram_business_basic,user_media",
    }
    for name, value in cases.items():
        params = {**sandbox.authorize_params(), name: value}
        response = await sandbox.client.get("/sandbox/oauth/authorize", params=params)
        page = await response.text()

        assert response.status == 400, name
        assert response.content_type == "text/html", name
        assert "Allow" not in page, name


async def test_allow_redirect_carries_code(sandbox: Sandbox) -> None:
    location = await sandbox.allow()
    parts = urlsplit(location)
    query = query_of(location)

    assert location.startswith(f"{sandbox.redirect_uri}?")
    assert parts.fragment == "_"
    assert location.endswith("#_")
    assert query["state"] == ["st-1"]
    assert query["code"][0].startswith("AQ")


async def test_deny_redirects_with_error_params(sandbox: Sandbox) -> None:
    form = {**sandbox.authorize_params(), "account": DEMO_ID, "decision": "deny"}
    response = await sandbox.client.post(
        "/sandbox/oauth/authorize", data=form, allow_redirects=False
    )
    location = response.headers["Location"]

    assert response.status == 302
    assert location == (
        f"{sandbox.redirect_uri}?error=access_denied&error_reason=user_denied"
        "&error_description=Permissions+error&state=st-1"
    )


async def test_authorize_form_rejects_unknown_account(sandbox: Sandbox) -> None:
    form = {**sandbox.authorize_params(), "account": "999", "decision": "allow"}
    response = await sandbox.client.post(
        "/sandbox/oauth/authorize", data=form, allow_redirects=False
    )

    assert response.status == 400


async def test_exchange_flat_big_numeric_id(sandbox: Sandbox) -> None:
    code = await sandbox.code(DEMO_ID)
    response = await sandbox.client.post(
        "/sandbox/api/oauth/access_token",
        data={
            "client_id": sandbox.state.client_id,
            "client_secret": sandbox.state.client_secret,
            "grant_type": "authorization_code",
            "redirect_uri": sandbox.redirect_uri,
            "code": code,
        },
    )
    raw = await response.text()
    body = json.loads(raw)

    assert response.status == 200
    assert set(body) == {"access_token", "user_id", "permissions"}
    # The id above 2**53 is a raw JSON number, not a string.
    assert '"user_id": 17841400000000001' in raw
    assert body["user_id"] == 17841400000000001
    assert body["user_id"] > 2**53
    assert body["permissions"] == "instagram_business_basic"


async def test_exchange_wrapped_numeric_id(sandbox: Sandbox) -> None:
    status, body = await sandbox.exchange(await sandbox.code(PERSONAL_ID, BASIC_SCOPE))

    assert status == 200
    assert set(body) == {"data"}
    assert len(body["data"]) == 1
    item = body["data"][0]
    assert item["user_id"] == 4512345678
    assert item["permissions"] == ["user_profile", "user_media"]
    assert item["access_token"].startswith("IGQV")


async def test_code_exchange_string_user_id(sandbox: Sandbox) -> None:
    status, body = await sandbox.exchange(await sandbox.code(EMPTY_ID))

    assert status == 200
    assert body["user_id"] == EMPTY_ID
    assert body["access_token"].startswith("IGAA")


async def test_code_is_single_use(sandbox: Sandbox) -> None:
    code = await sandbox.code()
    first_status, _ = await sandbox.exchange(code)
    second_status, second = await sandbox.exchange(code)

    assert first_status == 200
    assert second_status == 400
    assert second["error_type"] == "OAuthException"
    assert second["code"] == 400
    assert "used" in second["error_message"]


async def test_code_expires_after_one_hour(sandbox: Sandbox) -> None:
    code = await sandbox.code()
    sandbox.clock.now += timedelta(minutes=59)
    still_valid = await sandbox.code()
    sandbox.clock.now += timedelta(minutes=1, seconds=1)

    expired_status, expired = await sandbox.exchange(code)
    assert expired_status == 400
    assert "expired" in expired["error_message"]
    valid_status, _ = await sandbox.exchange(still_valid)
    assert valid_status == 200


async def test_code_fragment_is_not_part_of_the_code(sandbox: Sandbox) -> None:
    code = await sandbox.code()
    status, body = await sandbox.exchange(code + "#_")

    assert status == 400
    assert body["error_message"] == "Invalid authorization code"


async def test_code_exchange_errors_keep_the_code(sandbox: Sandbox) -> None:
    code = await sandbox.code()
    cases = {
        "client_secret": ("wrong-secret", "client secret"),
        "redirect_uri": (f"{sandbox.base_url}/other", "redirect_uri"),
        "grant_type": ("password", "grant_type"),
        "client_id": ("other-app", "Invalid platform app"),
    }
    for name, (value, expected) in cases.items():
        status, body = await sandbox.exchange(code, **{name: value})

        assert status == 400, name
        assert body["error_type"] == "OAuthException", name
        assert body["code"] == 400, name
        assert expected in body["error_message"], name
        assert "wrong-secret" not in body["error_message"], name

    status, _ = await sandbox.exchange(code)
    assert status == 200
