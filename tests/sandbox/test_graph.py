"""Graph endpoints of the sandbox: tokens, profile, media paging and children."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.sandbox.conftest import (
    BASIC_SCOPE,
    DEMO_ID,
    EMPTY_ID,
    PERSONAL_ID,
    Sandbox,
    query_of,
    relative,
)

MEDIA_FIELDS = (
    "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp,username,"
    "children{media_type,media_url,thumbnail_url}"
)


async def _exchange_long_lived(sandbox: Sandbox, short: str, **overrides: str) -> tuple[int, Any]:
    params = {
        "grant_type": "ig_exchange_token",
        "client_secret": sandbox.state.client_secret,
        "access_token": short,
        **overrides,
    }
    response = await sandbox.client.get("/sandbox/graph/access_token", params=params)
    return response.status, await response.json()


async def _refresh(sandbox: Sandbox, token: str) -> tuple[int, Any]:
    params = {"grant_type": "ig_refresh_token", "access_token": token}
    response = await sandbox.client.get("/sandbox/graph/refresh_access_token", params=params)
    return response.status, await response.json()


async def test_long_lived_exchange(sandbox: Sandbox) -> None:
    status, body = await _exchange_long_lived(sandbox, await sandbox.short_token())

    assert status == 200
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 5184000


async def test_long_lived_exchange_rejects_bad_input(sandbox: Sandbox) -> None:
    short = await sandbox.short_token()
    wrong_secret_status, wrong_secret = await _exchange_long_lived(
        sandbox, short, client_secret="nope"
    )
    unknown_status, unknown = await _exchange_long_lived(sandbox, "IGAAunknown")
    long_lived = await sandbox.long_token()
    again_status, again = await _exchange_long_lived(sandbox, long_lived)

    assert wrong_secret_status == 400
    assert wrong_secret["error"]["type"] == "OAuthException"
    assert unknown_status == 400
    assert unknown["error"]["code"] == 190
    assert again_status == 400
    assert again["error"]["code"] == 100


async def test_short_lived_token_expires_after_one_hour(sandbox: Sandbox) -> None:
    short = await sandbox.short_token()
    sandbox.clock.now += timedelta(hours=1)

    status, body = await _exchange_long_lived(sandbox, short)

    assert status == 400
    assert body["error"]["code"] == 190
    assert body["error"]["error_subcode"] == 463


async def test_refresh_requires_24_hours(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    young_status, young = await _refresh(sandbox, token)
    sandbox.clock.now += timedelta(hours=24)
    old_status, old = await _refresh(sandbox, token)

    assert young_status == 400
    assert young["error"]["code"] == 100
    assert "24 hours" in young["error"]["message"]
    assert old_status == 200
    assert old["token_type"] == "bearer"
    assert old["expires_in"] == 5184000
    assert old["access_token"] != token


async def test_refresh_rejects_short_and_expired_tokens(sandbox: Sandbox) -> None:
    short = await sandbox.short_token()
    long_lived = await sandbox.long_token()
    short_status, short_body = await _refresh(sandbox, short)
    sandbox.clock.now += timedelta(days=60)
    expired_status, expired = await _refresh(sandbox, long_lived)

    assert short_status == 400
    assert short_body["error"]["code"] == 100
    assert expired_status == 400
    assert expired["error"]["code"] == 190


async def test_refresh_keeps_old_token_valid(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    sandbox.clock.now += timedelta(days=2)
    _, refreshed = await _refresh(sandbox, token)

    new_status, _ = await sandbox.graph("/me", refreshed["access_token"])
    old_status, _ = await sandbox.graph("/me", token)

    assert new_status == 200
    assert old_status == 200


async def test_profile_instagram_login_fields(sandbox: Sandbox) -> None:
    token = await sandbox.long_token(DEMO_ID)
    status, body = await sandbox.graph(
        "/v25.0/me",
        token,
        fields="user_id,username,name,account_type,profile_picture_url,media_count",
    )

    assert status == 200
    assert body["user_id"] == DEMO_ID
    assert body["id"] == DEMO_ID
    assert body["username"] == "sandbox.demo"
    assert body["name"] == "Sandbox Demo"
    assert body["account_type"] == "Business"
    assert body["media_count"] == 64
    assert body["profile_picture_url"].startswith(f"{sandbox.base_url}/sandbox/media/avatar/")


async def test_profile_basic_display_fields(sandbox: Sandbox) -> None:
    token = await sandbox.long_token(PERSONAL_ID, BASIC_SCOPE)
    status, body = await sandbox.graph("/me", token, fields="id,username,account_type,media_count")

    assert status == 200
    assert body == {
        "id": PERSONAL_ID,
        "username": "sandbox.personal",
        "account_type": "PERSONAL",
        "media_count": 6,
    }


async def test_account_type_case_per_flavor(sandbox: Sandbox) -> None:
    login_token = await sandbox.long_token(EMPTY_ID)
    basic_token = await sandbox.long_token(EMPTY_ID, BASIC_SCOPE)
    _, login = await sandbox.graph("/v25.0/me", login_token, fields="account_type")
    _, basic = await sandbox.graph("/me", basic_token, fields="account_type")

    assert login["account_type"] == "Media_Creator"
    assert basic["account_type"] == "MEDIA_CREATOR"


async def test_profile_rejects_fields_of_other_flavor(sandbox: Sandbox) -> None:
    token = await sandbox.long_token(PERSONAL_ID, BASIC_SCOPE)
    status, body = await sandbox.graph("/me", token, fields="id,name")

    assert status == 400
    assert body["error"]["code"] == 100
    assert "(name)" in body["error"]["message"]
    assert body["error"]["fbtrace_id"]


async def test_profile_accepts_bearer_header(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    response = await sandbox.client.get(
        "/sandbox/graph/v25.0/me",
        params={"fields": "username"},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = await response.json()

    assert response.status == 200
    assert body["username"] == "sandbox.demo"


async def test_missing_token_is_rejected(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/sandbox/graph/v25.0/me")
    body = await response.json()

    assert response.status == 400
    assert body["error"]["code"] == 2500


async def _all_pages(sandbox: Sandbox, token: str, limit: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    status, body = await sandbox.graph("/v25.0/me/media", token, fields=MEDIA_FIELDS, limit=limit)
    assert status == 200, body
    pages.append(body)
    while "next" in body.get("paging", {}):
        response = await sandbox.client.get(relative(body["paging"]["next"]))
        body = await response.json()
        assert response.status == 200, body
        pages.append(body)
        assert len(pages) < 50, "paging does not end"
    return pages


async def test_media_paging_reaches_the_end(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    pages = await _all_pages(sandbox, token, limit=25)
    ids = [item["id"] for page in pages for item in page["data"]]

    assert [len(page["data"]) for page in pages] == [25, 25, 14]
    assert len(ids) == 64
    assert len(set(ids)) == 64
    assert "next" not in pages[-1]["paging"]
    assert "previous" not in pages[0]["paging"]
    assert "previous" in pages[1]["paging"]
    assert pages[0]["paging"]["next"].startswith(f"{sandbox.base_url}/sandbox/graph/v25.0/")


async def test_media_newest_first(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    pages = await _all_pages(sandbox, token, limit=100)
    timestamps = [item["timestamp"] for item in pages[0]["data"]]

    assert len(pages) == 1
    assert timestamps[0] == "2024-03-05T10:35:40+0000"
    assert timestamps == sorted(timestamps, reverse=True)
    assert all(stamp.endswith("+0000") for stamp in timestamps)


async def test_media_previous_link(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    pages = await _all_pages(sandbox, token, limit=10)
    response = await sandbox.client.get(relative(pages[1]["paging"]["previous"]))
    previous = await response.json()

    assert [item["id"] for item in previous["data"]] == [item["id"] for item in pages[0]["data"]]


async def test_media_page_covers_every_quirk(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    pages = await _all_pages(sandbox, token, limit=100)
    items = pages[0]["data"]
    carousels = [item for item in items if item["media_type"] == "CAROUSEL_ALBUM"]
    videos = [item for item in items if item["media_type"] == "VIDEO"]
    images = [item for item in items if item["media_type"] == "IMAGE"]

    assert any("caption" not in item for item in items)
    assert any(len(item.get("caption", "")) > 2200 for item in items)
    assert any("media_url" not in item for item in videos)
    assert all("thumbnail_url" in item for item in videos)
    assert all("thumbnail_url" not in item for item in images + carousels)
    assert all("children" in item for item in carousels)
    assert all("children" not in item for item in images + videos)
    ten = [item for item in carousels if len(item["children"]["data"]) == 10]
    assert len(ten) == 1
    child_types = {child["media_type"] for child in ten[0]["children"]["data"]}
    assert child_types == {"IMAGE", "VIDEO"}
    for child in ten[0]["children"]["data"]:
        assert "media_url" in child
        assert ("thumbnail_url" in child) == (child["media_type"] == "VIDEO")


async def test_children_field_without_subfields(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    status, body = await sandbox.graph("/me/media", token, fields="id,children", limit=2)
    carousel = body["data"][1]

    assert status == 200
    assert carousel["children"]["data"][0] == {"id": str(int(carousel["id"]) + 1)}


async def test_media_rejects_bad_parameters(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    cases = [
        {"fields": "id,nonsense"},
        {"fields": "id,children{media_type"},
        {"fields": "id", "limit": "many"},
        {"fields": "id", "limit": "0"},
        {"fields": "id", "after": "bm90LWEtY3Vyc29y"},
    ]
    for params in cases:
        status, body = await sandbox.graph("/v25.0/me/media", token, **params)

        assert status == 400, params
        assert body["error"]["code"] == 100, params


async def test_media_of_empty_account(sandbox: Sandbox) -> None:
    token = await sandbox.long_token(EMPTY_ID)
    status, body = await sandbox.graph("/v25.0/me/media", token, fields=MEDIA_FIELDS)

    assert status == 200
    assert body == {"data": []}


async def test_media_next_link_keeps_fields_and_limit(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    _, body = await sandbox.graph("/v25.0/me/media", token, fields="id,caption", limit=5)
    query = query_of(body["paging"]["next"])

    assert query["fields"] == ["id,caption"]
    assert query["limit"] == ["5"]
    assert query["after"] == [body["paging"]["cursors"]["after"]]


async def test_children_endpoint(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    _, page = await sandbox.graph("/me/media", token, fields="id,media_type", limit=2)
    carousel_id = page["data"][1]["id"]
    status, body = await sandbox.graph(
        f"/v25.0/{carousel_id}/children",
        token,
        fields="id,media_type,media_url,thumbnail_url,timestamp",
    )

    assert page["data"][1]["media_type"] == "CAROUSEL_ALBUM"
    assert status == 200
    assert len(body["data"]) == 10
    assert body["data"][3]["media_type"] == "VIDEO"
    assert "thumbnail_url" in body["data"][3]
    assert body["data"][0]["timestamp"].endswith("+0000")


async def test_children_of_image_is_empty(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    _, page = await sandbox.graph("/me/media", token, fields="id", limit=1)
    status, body = await sandbox.graph(f"/{page['data'][0]['id']}/children", token)

    assert status == 200
    assert body == {"data": []}


async def test_single_media_by_id(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    _, page = await sandbox.graph("/me/media", token, fields="id,caption", limit=1)
    first = page["data"][0]
    status, body = await sandbox.graph(
        f"/v25.0/{first['id']}", token, fields="id,caption,media_type,media_url"
    )

    assert status == 200
    assert body["id"] == first["id"]
    assert body["caption"] == first["caption"]
    assert body["media_url"].startswith(f"{sandbox.base_url}/sandbox/media/")


async def test_media_of_other_account_is_not_found(sandbox: Sandbox) -> None:
    demo_token = await sandbox.long_token(DEMO_ID)
    personal_token = await sandbox.long_token(PERSONAL_ID, BASIC_SCOPE)
    _, page = await sandbox.graph("/me/media", demo_token, fields="id", limit=1)
    status, body = await sandbox.graph(f"/{page['data'][0]['id']}", personal_token)

    assert status == 400
    assert body["error"]["code"] == 100
    assert body["error"]["error_subcode"] == 33


async def test_basic_display_rejects_login_only_media_fields(sandbox: Sandbox) -> None:
    token = await sandbox.long_token(PERSONAL_ID, BASIC_SCOPE)
    status, body = await sandbox.graph("/me/media", token, fields="id,media_product_type")

    assert status == 400
    assert body["error"]["code"] == 100
