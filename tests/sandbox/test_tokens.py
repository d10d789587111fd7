"""Signed access tokens: accepted across sandbox restarts, rejected when tampered or revoked."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.sandbox.tokens import AccessTokenCodec, Flavor
from tests.sandbox.conftest import (
    BASIC_SCOPE,
    DEMO_ID,
    PERSONAL_ID,
    START,
    FakeClock,
    Sandbox,
    relative,
    start_sandbox,
)

MEDIA_FIELDS = "id,media_type,media_url,children{media_type,media_url}"


@pytest.fixture
async def restarted(clock: FakeClock) -> AsyncIterator[Sandbox]:
    """A second sandbox app with the same client secret and clock, as after a restart."""
    running = await start_sandbox(clock)
    yield running
    await running.client.close()


def _replace_character(token: str, index: int) -> str:
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


async def _refresh(sandbox: Sandbox, token: str) -> tuple[int, Any]:
    params = {"grant_type": "ig_refresh_token", "access_token": token}
    response = await sandbox.client.get("/sandbox/graph/refresh_access_token", params=params)
    return response.status, await response.json()


async def test_token_is_opaque_and_url_safe(sandbox: Sandbox) -> None:
    login_token = await sandbox.long_token()
    basic_token = await sandbox.long_token(PERSONAL_ID, BASIC_SCOPE)

    assert re.fullmatch(r"IGAA[A-Za-z0-9_-]+", login_token)
    assert re.fullmatch(r"IGQV[A-Za-z0-9_-]+", basic_token)
    assert DEMO_ID not in login_token
    assert "instagram_business_basic" not in login_token


async def test_tokens_issued_at_one_instant_differ(sandbox: Sandbox) -> None:
    first = await sandbox.long_token()
    second = await sandbox.long_token()

    assert first != second


async def test_token_survives_a_restart(sandbox: Sandbox, restarted: Sandbox) -> None:
    token = await sandbox.long_token()

    status, body = await restarted.graph("/v25.0/me", token, fields="user_id,username")

    assert status == 200, body
    assert body["user_id"] == DEMO_ID
    assert body["username"] == "sandbox.demo"


async def test_short_token_exchange_after_restart(sandbox: Sandbox, restarted: Sandbox) -> None:
    short = await sandbox.short_token()
    params = {
        "grant_type": "ig_exchange_token",
        "client_secret": restarted.state.client_secret,
        "access_token": short,
    }

    response = await restarted.client.get("/sandbox/graph/access_token", params=params)
    body = await response.json()

    assert response.status == 200, body
    assert body["expires_in"] == 5184000


async def test_basic_display_token_survives_a_restart(
    sandbox: Sandbox, restarted: Sandbox
) -> None:
    token = await sandbox.long_token(PERSONAL_ID, BASIC_SCOPE)

    status, body = await restarted.graph("/me", token, fields="id,username,account_type")
    rejected_status, rejected = await restarted.graph("/me", token, fields="profile_picture_url")

    assert status == 200, body
    assert body["id"] == PERSONAL_ID
    assert body["account_type"] == "PERSONAL"
    assert rejected_status == 400
    assert rejected["error"]["code"] == 100


async def test_refresh_after_restart(sandbox: Sandbox, restarted: Sandbox) -> None:
    token = await sandbox.long_token()
    young_status, young = await _refresh(restarted, token)
    restarted.clock.now += timedelta(hours=24)
    old_status, old = await _refresh(restarted, token)

    assert young_status == 400
    assert young["error"]["code"] == 100
    assert old_status == 200, old
    assert old["access_token"] != token


async def test_token_of_other_secret_is_rejected(sandbox: Sandbox, clock: FakeClock) -> None:
    token = await sandbox.long_token()
    other = await start_sandbox(clock, client_secret="another-app-secret")
    try:
        status, body = await other.graph("/v25.0/me", token)
    finally:
        await other.client.close()

    assert status == 400
    assert body["error"]["code"] == 190
    assert "error_subcode" not in body["error"]


async def test_tampered_token_is_rejected(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    cases = {
        "character after the prefix": _replace_character(token, 4),
        "middle character": _replace_character(token, len(token) // 2),
        "last character": _replace_character(token, len(token) - 1),
        "other flavor prefix": "IGQV" + token[4:],
        "truncated": token[:-10],
        "extended": token + "AAAA",
        "padded": token + "==",
        "non-url-safe characters": token[:20] + "+/" + token[22:],
        "prefix only": "IGAA",
    }
    for name, tampered in cases.items():
        status, body = await sandbox.graph("/v25.0/me", tampered)

        assert status == 400, name
        assert body["error"]["code"] == 190, name
        assert tampered not in str(body), name


async def test_expired_long_lived_token(sandbox: Sandbox, restarted: Sandbox) -> None:
    token = await sandbox.long_token()
    sandbox.clock.now += timedelta(days=60) - timedelta(seconds=1)
    last_status, _ = await restarted.graph("/v25.0/me", token)
    sandbox.clock.now += timedelta(seconds=1)
    status, body = await restarted.graph("/v25.0/me", token)

    assert last_status == 200
    assert status == 400
    assert body["error"]["code"] == 190
    assert body["error"]["error_subcode"] == 463
    assert "Session has expired" in body["error"]["message"]


async def test_revoked_token_is_rejected(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    response = await sandbox.client.post("/sandbox/control/revoke", json={"account": DEMO_ID})
    status, body = await sandbox.graph("/v25.0/me", token)

    assert response.status == 200
    assert status == 400
    assert body["error"]["code"] == 190
    assert body["error"]["error_subcode"] == 458


async def test_revoke_rejects_token_from_before_restart(
    sandbox: Sandbox, restarted: Sandbox
) -> None:
    token = await sandbox.long_token()
    response = await restarted.client.post("/sandbox/control/revoke", json={"account": DEMO_ID})
    answer = await response.json()
    status, body = await restarted.graph("/v25.0/me", token)

    assert response.status == 200
    # The restarted sandbox issued no token of its own, so it counts none.
    assert answer["revoked"] == 0
    assert status == 400
    assert body["error"]["error_subcode"] == 458


async def test_token_issued_after_revoke_works(sandbox: Sandbox) -> None:
    revoked = await sandbox.long_token()
    await sandbox.client.post("/sandbox/control/revoke", json={"account": DEMO_ID})
    # The clock has not moved, so the new token has the revocation's issue time.
    reconnected = await sandbox.long_token()
    revoked_status, _ = await sandbox.graph("/v25.0/me", revoked)
    status, body = await sandbox.graph("/v25.0/me", reconnected)

    assert revoked_status == 400
    assert status == 200, body


async def test_second_revoke_rejects_reconnected_token(sandbox: Sandbox) -> None:
    await sandbox.client.post("/sandbox/control/revoke", json={"account": DEMO_ID})
    reconnected = await sandbox.long_token()
    response = await sandbox.client.post("/sandbox/control/revoke", json={"account": DEMO_ID})
    answer = await response.json()
    status, body = await sandbox.graph("/v25.0/me", reconnected)

    assert answer["revoked"] == 2
    assert status == 400
    assert body["error"]["error_subcode"] == 458


async def test_media_survives_a_restart(sandbox: Sandbox, restarted: Sandbox) -> None:
    token = await sandbox.long_token()
    _, page = await sandbox.graph("/v25.0/me/media", token, fields=MEDIA_FIELDS, limit=5)
    items = page["data"]
    carousel = next(item for item in items if item["media_type"] == "CAROUSEL_ALBUM")

    image = await restarted.client.get(relative(items[0]["media_url"]))
    single_status, single = await restarted.graph(f"/v25.0/{items[0]['id']}", token)
    children_status, children = await restarted.graph(
        f"/v25.0/{carousel['id']}/children", token, fields="id,media_url"
    )

    assert image.status == 200
    assert image.content_type == "image/jpeg"
    assert single_status == 200
    assert single["id"] == items[0]["id"]
    assert children_status == 200
    assert [child["id"] for child in children["data"]] == [
        child["id"] for child in carousel["children"]["data"]
    ]


async def test_media_url_expires_after_restart(sandbox: Sandbox, restarted: Sandbox) -> None:
    token = await sandbox.long_token()
    _, page = await sandbox.graph("/v25.0/me/media", token, fields=MEDIA_FIELDS, limit=1)
    url = relative(page["data"][0]["media_url"])
    sandbox.clock.now += timedelta(hours=1)

    response = await restarted.client.get(url)

    assert response.status == 403


def test_codec_round_trip() -> None:
    codec = AccessTokenCodec("secret")
    issued_at = START + timedelta(microseconds=123456)
    token, record = codec.issue(
        account_id="17841400000000001",
        flavor=Flavor.INSTAGRAM_LOGIN,
        scopes=("instagram_business_basic", "instagram_business_manage_comments"),
        long_lived=True,
        issued_at=issued_at,
    )

    decoded = AccessTokenCodec("secret").decode(token)

    assert decoded == record
    assert record.issued_at == issued_at
    assert record.expires_at == issued_at + timedelta(days=60)
    assert AccessTokenCodec("other secret").decode(token) is None


def test_codec_short_lived_lifetime() -> None:
    codec = AccessTokenCodec("secret")
    token, _ = codec.issue(
        account_id="4512345678",
        flavor=Flavor.BASIC_DISPLAY,
        scopes=("user_profile",),
        long_lived=False,
        issued_at=START,
    )

    decoded = codec.decode(token)

    assert decoded is not None
    assert decoded.long_lived is False
    assert decoded.flavor is Flavor.BASIC_DISPLAY
    assert decoded.scopes == ("user_profile",)
    assert decoded.expires_at == START + timedelta(hours=1)


def test_codec_rejects_malformed_strings() -> None:
    codec = AccessTokenCodec("secret")
    for token in ("", "IG", "IGAA", "IGAA!!!!", "IGAAunknown", "XXXX" + "A" * 120):
        assert codec.decode(token) is None, token
