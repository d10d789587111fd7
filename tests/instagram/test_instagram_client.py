"""InstagramClient against respx: requests sent, responses parsed, both API flavors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from instagram_fakes import (
    API_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    GRAPH_URL,
    NOW,
    REDIRECT_URI,
    make_client,
)

from bot.config import Settings
from bot.instagram import (
    AuthorizationCodeError,
    InstagramClient,
    InstagramError,
    InstagramUnavailableError,
    MediaType,
)

SHORT_TOKEN = "IGQfakeShortToken123"
LONG_TOKEN = "IGQfakeLongToken456"
REFRESHED_TOKEN = "IGQfakeRefreshedToken789"
# Larger than 2**53, so a float-based JSON parser would corrupt it.
BIG_USER_ID = "17841400000000001"

TOKEN_URL = f"{API_URL}/oauth/access_token"
LONG_LIVED_URL = f"{GRAPH_URL}/access_token"
REFRESH_URL = f"{GRAPH_URL}/refresh_access_token"

IMAGE_POST = {
    "id": "18000000000000001",
    "caption": "Sunrise over the bay",
    "media_type": "IMAGE",
    "media_url": "https://cdn.example.test/p/1.jpg?sig=abc",
    "permalink": "https://www.instagram.example.test/p/AAA/",
    "timestamp": "2024-03-05T10:35:40+0000",
    "username": "fake_user",
}
VIDEO_POST = {
    "id": "18000000000000002",
    "media_type": "VIDEO",
    "media_url": "https://cdn.example.test/v/2.mp4?sig=def",
    "thumbnail_url": "https://cdn.example.test/v/2.jpg?sig=def",
    "permalink": "https://www.instagram.example.test/p/BBB/",
    "timestamp": "2024-03-04T08:00:00+0000",
    "username": "fake_user",
}
CAROUSEL_POST = {
    "id": "18000000000000003",
    "caption": "Weekend",
    "media_type": "CAROUSEL_ALBUM",
    "media_url": "https://cdn.example.test/c/3.jpg?sig=ghi",
    "permalink": "https://www.instagram.example.test/p/CCC/",
    "timestamp": "2024-03-03T18:20:05+0000",
    "username": "fake_user",
    "children": {
        "data": [
            {
                "media_type": "IMAGE",
                "media_url": "https://cdn.example.test/c/3a.jpg?sig=1",
                "id": "18000000000000031",
            },
            {
                "media_type": "VIDEO",
                "media_url": "https://cdn.example.test/c/3b.mp4?sig=2",
                "thumbnail_url": "https://cdn.example.test/c/3b.jpg?sig=2",
                "id": "18000000000000032",
            },
        ]
    },
}
# A post whose audio is copyrighted has no media_url; this one has no caption either.
BARE_POST = {
    "id": "18000000000000004",
    "media_type": "IMAGE",
    "permalink": "https://www.instagram.example.test/p/DDD/",
    "timestamp": "2024-03-02T07:00:00+0000",
    "username": "fake_user",
}


def query_of(request: httpx.Request) -> dict[str, str]:
    """Return the query parameters of a request as a flat dict."""
    return dict(request.url.params)


def form_of(request: httpx.Request) -> dict[str, str]:
    """Return the form fields of a url-encoded request body as a flat dict."""
    return {name: values[0] for name, values in parse_qs(request.content.decode()).items()}


def json_response(body: str, status: int = 200) -> httpx.Response:
    """Build a response from literal JSON text, as the API sends it."""
    return httpx.Response(status, content=body.encode(), headers={"content-type": "text/json"})


# Authorization URL


def test_authorization_url_uses_instagram_login_defaults(client: InstagramClient) -> None:
    url = client.authorization_url("state-abc")

    parts = urlsplit(url)
    params = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://www.instagram.com/oauth/authorize"
    )
    assert params == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "instagram_business_basic",
        "response_type": "code",
        "state": "state-abc",
    }


def test_authorization_url_uses_basic_display_defaults(basic_client: InstagramClient) -> None:
    url = basic_client.authorization_url("state-abc")

    parts = urlsplit(url)
    params = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://api.instagram.com/oauth/authorize"
    )
    assert params["scope"] == ["user_profile,user_media"]
    assert params["state"] == ["state-abc"]


def test_authorization_url_keeps_custom_query(
    http_client: httpx.AsyncClient,
) -> None:
    client = InstagramClient(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT_URI,
        authorize_url="http://127.0.0.1:8080/sandbox/oauth/authorize?account=demo",
        http_client=http_client,
    )

    url = client.authorization_url("s1")

    params = parse_qs(urlsplit(url).query)
    assert url.startswith("http://127.0.0.1:8080/sandbox/oauth/authorize?")
    assert params["account"] == ["demo"]
    assert params["state"] == ["s1"]


def test_authorization_url_rejects_empty_state(client: InstagramClient) -> None:
    with pytest.raises(ValueError, match="state"):
        client.authorization_url("")


def test_client_uses_default_hosts_when_none_given(http_client: httpx.AsyncClient) -> None:
    client = InstagramClient(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, http_client=http_client)

    assert client.api_url == "https://api.instagram.com"
    assert client.graph_url == "https://graph.instagram.com"
    assert client.graph_version == "v25.0"


def test_client_rejects_unknown_flavor(http_client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="graph_api"):
        InstagramClient(
            CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, flavor="graph_api", http_client=http_client
        )


def test_client_rejects_empty_secret(http_client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="client_secret"):
        InstagramClient(CLIENT_ID, "", REDIRECT_URI, http_client=http_client)


# Code exchange


async def test_exchange_code_flat_response(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        return_value=json_response(
            f'{{"access_token": "{SHORT_TOKEN}", "user_id": {BIG_USER_ID}, '
            '"permissions": "instagram_business_basic,instagram_business_content_publish"}'
        )
    )

    token = await client.exchange_code("AQBfakeCode")

    assert form_of(route.calls.last.request) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT_URI,
        "code": "AQBfakeCode",
    }
    assert token.access_token == SHORT_TOKEN
    assert token.user_id == BIG_USER_ID
    assert token.permissions == (
        "instagram_business_basic",
        "instagram_business_content_publish",
    )


async def test_exchange_code_parses_response_wrapped_in_data(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=json_response(
            f'{{"data": [{{"access_token": "{SHORT_TOKEN}", "user_id": "{BIG_USER_ID}", '
            '"permissions": ["instagram_business_basic"]}]}'
        )
    )

    token = await client.exchange_code("AQBfakeCode")

    assert token.access_token == SHORT_TOKEN
    assert token.user_id == BIG_USER_ID
    assert token.permissions == ("instagram_business_basic",)


async def test_exchange_code_small_numeric_user_id(
    basic_client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=json_response(f'{{"access_token": "{SHORT_TOKEN}", "user_id": 4242}}')
    )

    token = await basic_client.exchange_code("AQBfakeCode")

    assert token.user_id == "4242"
    assert token.permissions == ()


@pytest.mark.parametrize("raw_code", ["AQBfakeCode#_", "  AQBfakeCode#_\n", " AQBfakeCode "])
async def test_exchange_code_strips_fragment_suffix_and_whitespace(
    client: InstagramClient, respx_mock: respx.MockRouter, raw_code: str
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": SHORT_TOKEN, "user_id": "1"})
    )

    await client.exchange_code(raw_code)

    assert form_of(route.calls.last.request)["code"] == "AQBfakeCode"


@pytest.mark.parametrize("raw_code", ["", "   ", "#_", " #_ "])
async def test_exchange_code_rejects_empty_code_without_request(
    client: InstagramClient, respx_mock: respx.MockRouter, raw_code: str
) -> None:
    route = respx_mock.post(TOKEN_URL)

    with pytest.raises(AuthorizationCodeError, match="empty"):
        await client.exchange_code(raw_code)

    assert not route.called


@pytest.mark.parametrize(
    "api_message",
    [
        "Invalid authorization code",
        "This authorization code has been used",
        "Error validating verification code. Please make sure your redirect_uri is identical "
        "to the one you used in the OAuth dialog request",
    ],
)
async def test_exchange_code_flat_error(
    client: InstagramClient, respx_mock: respx.MockRouter, api_message: str
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400,
            json={"error_type": "OAuthException", "code": 400, "error_message": api_message},
        )
    )

    with pytest.raises(AuthorizationCodeError) as caught:
        await client.exchange_code("AQBfakeCode")

    assert caught.value.message == api_message
    assert caught.value.status == 400
    assert caught.value.code == 400
    assert caught.value.error_type == "OAuthException"


async def test_exchange_code_does_not_retry_server_error(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(500, json={"error": {"message": "Unknown", "code": 1}}),
            httpx.Response(200, json={"access_token": SHORT_TOKEN, "user_id": "1"}),
        ]
    )

    with pytest.raises(InstagramUnavailableError):
        await client.exchange_code("AQBfakeCode")

    assert route.call_count == 1


async def test_exchange_code_does_not_retry_timeout(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(InstagramUnavailableError, match="timed out"):
        await client.exchange_code("AQBfakeCode")

    assert route.call_count == 1


async def test_exchange_code_rejects_response_without_access_token(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"user_id": "1"}))

    with pytest.raises(InstagramError, match="access_token"):
        await client.exchange_code("AQBfakeCode")


async def test_exchange_code_rejects_empty_data_wrapper(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"data": []}))

    with pytest.raises(InstagramError, match="empty"):
        await client.exchange_code("AQBfakeCode")


async def test_exchange_code_rejects_response_without_user_id(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": SHORT_TOKEN, "user_id": None})
    )

    with pytest.raises(InstagramError, match="user_id"):
        await client.exchange_code("AQBfakeCode")


# Long-lived tokens


@pytest.mark.parametrize("flavor", ["instagram_login", "basic_display"])
async def test_long_lived_exchange_sets_expiry(
    http_client: httpx.AsyncClient, respx_mock: respx.MockRouter, flavor: str
) -> None:
    client = make_client(http_client, flavor=flavor)
    route = respx_mock.get(LONG_LIVED_URL).mock(
        return_value=httpx.Response(
            200, json={"access_token": LONG_TOKEN, "token_type": "bearer", "expires_in": 5183944}
        )
    )

    token = await client.exchange_for_long_lived(SHORT_TOKEN)

    assert query_of(route.calls.last.request) == {
        "grant_type": "ig_exchange_token",
        "client_secret": CLIENT_SECRET,
        "access_token": SHORT_TOKEN,
    }
    assert token.access_token == LONG_TOKEN
    assert token.token_type == "bearer"
    assert token.expires_in == 5183944
    assert token.issued_at == NOW
    assert token.expires_at == NOW + timedelta(seconds=5183944)
    assert token.user_id is None


async def test_long_lived_token_from_code_keeps_user_id(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=json_response(
            f'{{"access_token": "{SHORT_TOKEN}", "user_id": {BIG_USER_ID}}}'
        )
    )
    long_lived_route = respx_mock.get(LONG_LIVED_URL).mock(
        return_value=httpx.Response(
            200, json={"access_token": LONG_TOKEN, "token_type": "bearer", "expires_in": 5184000}
        )
    )

    token = await client.long_lived_token_from_code("AQBfakeCode#_")

    assert query_of(long_lived_route.calls.last.request)["access_token"] == SHORT_TOKEN
    assert token.access_token == LONG_TOKEN
    assert token.user_id == BIG_USER_ID
    assert token.expires_at == datetime(2024, 5, 4, 12, 0, tzinfo=UTC)


async def test_refresh_sends_refresh_grant_without_secret(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(REFRESH_URL).mock(
        return_value=httpx.Response(
            200,
            json={"access_token": REFRESHED_TOKEN, "token_type": "bearer", "expires_in": 5184000},
        )
    )

    token = await client.refresh(LONG_TOKEN)

    assert query_of(route.calls.last.request) == {
        "grant_type": "ig_refresh_token",
        "access_token": LONG_TOKEN,
    }
    assert token.access_token == REFRESHED_TOKEN
    assert token.expires_at == NOW + timedelta(days=60)


async def test_refresh_accepts_expires_in_as_string(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(REFRESH_URL).mock(
        return_value=httpx.Response(
            200, json={"access_token": REFRESHED_TOKEN, "expires_in": "60"}
        )
    )

    token = await client.refresh(LONG_TOKEN)

    assert token.expires_in == 60
    assert token.token_type == "bearer"


async def test_refresh_rejects_response_without_expires_in(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(REFRESH_URL).mock(
        return_value=httpx.Response(200, json={"access_token": REFRESHED_TOKEN})
    )

    with pytest.raises(InstagramError, match="expires_in"):
        await client.refresh(LONG_TOKEN)


# Profile


async def test_profile_reads_versioned_me_with_business_fields(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{GRAPH_URL}/v25.0/me").mock(
        return_value=json_response(
            f'{{"id": "9988776655", "user_id": {BIG_USER_ID}, "username": "fake_user", '
            '"name": "Fake User", "account_type": "MEDIA_CREATOR", '
            '"profile_picture_url": "https://cdn.example.test/pp.jpg", "media_count": 42}'
        )
    )

    profile = await client.profile(LONG_TOKEN)

    assert query_of(route.calls.last.request) == {
        "fields": "user_id,username,name,account_type,profile_picture_url,media_count",
        "access_token": LONG_TOKEN,
    }
    assert profile.user_id == BIG_USER_ID
    assert profile.username == "fake_user"
    assert profile.name == "Fake User"
    assert profile.account_type == "MEDIA_CREATOR"
    assert profile.profile_picture_url == "https://cdn.example.test/pp.jpg"
    assert profile.media_count == 42


async def test_profile_reads_unversioned_me_for_basic_display(
    basic_client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{GRAPH_URL}/me").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "17841400000000077",
                "username": "fake_user",
                "account_type": "Personal",
                "media_count": 3,
            },
        )
    )

    profile = await basic_client.profile(LONG_TOKEN)

    assert query_of(route.calls.last.request)["fields"] == "id,username,account_type,media_count"
    assert profile.user_id == "17841400000000077"
    assert profile.account_type == "Personal"
    assert profile.name is None
    assert profile.media_count == 3


async def test_profile_uses_configured_graph_version(
    http_client: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    client = InstagramClient(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT_URI,
        graph_url=GRAPH_URL + "/",
        graph_version="v22.0",
        http_client=http_client,
    )
    route = respx_mock.get(f"{GRAPH_URL}/v22.0/me").mock(
        return_value=httpx.Response(200, json={"user_id": "1", "username": "fake_user"})
    )

    await client.profile(LONG_TOKEN)

    assert route.called


async def test_profile_rejects_response_without_username(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/v25.0/me").mock(
        return_value=httpx.Response(200, json={"user_id": "1"})
    )

    with pytest.raises(InstagramError, match="username"):
        await client.profile(LONG_TOKEN)


async def test_profile_rejects_json_list(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/v25.0/me").mock(return_value=httpx.Response(200, json=[1, 2]))

    with pytest.raises(InstagramError, match="expected a JSON object"):
        await client.profile(LONG_TOKEN)


# Media


def media_page_body(*items: dict[str, object], after: str, has_next: bool) -> dict[str, object]:
    """Build a `/me/media` page shaped like the Graph API's."""
    paging: dict[str, object] = {"cursors": {"before": "QVFIUfakeBefore", "after": after}}
    if has_next:
        paging["next"] = f"{GRAPH_URL}/v25.0/me/media?after={after}&access_token=redacted"
    return {"data": list(items), "paging": paging}


async def test_media_page_requests_fields_limit_and_cursor(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(
            200, json=media_page_body(IMAGE_POST, after="QVFIUfakeAfter2", has_next=True)
        )
    )

    await client.media_page(LONG_TOKEN, after="QVFIUfakeAfter1", limit=10)

    assert query_of(route.calls.last.request) == {
        "fields": "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp,username,"
        "children{media_type,media_url,thumbnail_url}",
        "limit": "10",
        "after": "QVFIUfakeAfter1",
        "access_token": LONG_TOKEN,
    }


async def test_media_page_omits_cursor_on_first_page(
    basic_client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{GRAPH_URL}/me/media").mock(
        return_value=httpx.Response(
            200, json=media_page_body(IMAGE_POST, after="QVFIUfakeAfter", has_next=True)
        )
    )

    await basic_client.media_page(LONG_TOKEN)

    params = query_of(route.calls.last.request)
    assert "after" not in params
    assert params["limit"] == "25"


async def test_media_page_parses_images_videos_and_carousels(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(
            200,
            json=media_page_body(
                IMAGE_POST, VIDEO_POST, CAROUSEL_POST, after="QVFIUfakeAfter", has_next=True
            ),
        )
    )

    page = await client.media_page(LONG_TOKEN)

    image, video, carousel = page.items
    assert image.media_type is MediaType.IMAGE
    assert image.caption == "Sunrise over the bay"
    assert image.timestamp == datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)
    assert image.thumbnail_url is None
    assert video.media_type is MediaType.VIDEO
    assert video.caption is None
    assert video.thumbnail_url == "https://cdn.example.test/v/2.jpg?sig=def"
    assert carousel.media_type is MediaType.CAROUSEL_ALBUM
    assert [child.id for child in carousel.children] == [
        "18000000000000031",
        "18000000000000032",
    ]
    assert carousel.children[1].media_type is MediaType.VIDEO
    assert carousel.children[1].thumbnail_url == "https://cdn.example.test/c/3b.jpg?sig=2"
    assert page.before == "QVFIUfakeBefore"
    assert page.after == "QVFIUfakeAfter"
    assert page.has_next is True


async def test_media_page_post_without_caption_or_url(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(
            200, json=media_page_body(BARE_POST, after="QVFIUfakeAfter", has_next=True)
        )
    )

    page = await client.media_page(LONG_TOKEN)

    assert page.items[0].caption is None
    assert page.items[0].media_url is None
    assert page.items[0].permalink == "https://www.instagram.example.test/p/DDD/"


async def test_media_page_without_next_link_is_last(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(
            200, json=media_page_body(IMAGE_POST, after="QVFIUfakeLast", has_next=False)
        )
    )

    page = await client.media_page(LONG_TOKEN)

    assert page.has_next is False
    assert page.after == "QVFIUfakeLast"


async def test_media_page_without_paging_is_last(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(200, json={"data": []})
    )

    page = await client.media_page(LONG_TOKEN)

    assert page.items == ()
    assert page.after is None
    assert page.has_next is False


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, MediaType.IMAGE),
        ({"thumbnail_url": "https://cdn.example.test/t.jpg"}, MediaType.VIDEO),
        (
            {"children": {"data": [{"id": "5", "media_type": "IMAGE"}]}},
            MediaType.CAROUSEL_ALBUM,
        ),
    ],
)
async def test_media_page_unknown_media_type(
    client: InstagramClient,
    respx_mock: respx.MockRouter,
    extra: dict[str, object],
    expected: MediaType,
) -> None:
    post = {"id": "18000000000000009", "media_type": "HOLOGRAM", **extra}
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(200, json={"data": [post]})
    )

    page = await client.media_page(LONG_TOKEN)

    assert page.items[0].media_type is expected


async def test_media_page_ignores_unreadable_timestamp(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    post = {**IMAGE_POST, "timestamp": "yesterday"}
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(200, json={"data": [post]})
    )

    page = await client.media_page(LONG_TOKEN)

    assert page.items[0].timestamp is None


async def test_media_page_rejects_item_without_id(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    post = {key: value for key, value in IMAGE_POST.items() if key != "id"}
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(200, json={"data": [post]})
    )

    with pytest.raises(InstagramError, match="`id` is missing"):
        await client.media_page(LONG_TOKEN)


async def test_media_page_rejects_non_list_data(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/v25.0/me/media").mock(
        return_value=httpx.Response(200, json={"data": {"id": "1"}})
    )

    with pytest.raises(InstagramError, match="not a list"):
        await client.media_page(LONG_TOKEN)


async def test_media_page_rejects_limit_below_one(client: InstagramClient) -> None:
    with pytest.raises(ValueError, match="limit"):
        await client.media_page(LONG_TOKEN, limit=0)


@pytest.mark.parametrize(
    ("flavor", "path"),
    [
        ("instagram_login", "/v25.0/18000000000000003/children"),
        ("basic_display", "/18000000000000003/children"),
    ],
)
async def test_children_reads_carousel_items(
    http_client: httpx.AsyncClient, respx_mock: respx.MockRouter, flavor: str, path: str
) -> None:
    client = make_client(http_client, flavor=flavor)
    route = respx_mock.get(f"{GRAPH_URL}{path}").mock(
        return_value=httpx.Response(200, json=CAROUSEL_POST["children"])
    )

    children = await client.children(LONG_TOKEN, "18000000000000003")

    assert query_of(route.calls.last.request) == {
        "fields": "id,media_type,media_url,thumbnail_url",
        "access_token": LONG_TOKEN,
    }
    assert [child.media_type for child in children] == [MediaType.IMAGE, MediaType.VIDEO]


@pytest.mark.parametrize(
    ("flavor", "path"),
    [("instagram_login", "/v25.0/18000000000000002"), ("basic_display", "/18000000000000002")],
)
async def test_media_reads_one_item_by_id(
    http_client: httpx.AsyncClient, respx_mock: respx.MockRouter, flavor: str, path: str
) -> None:
    client = make_client(http_client, flavor=flavor)
    respx_mock.get(f"{GRAPH_URL}{path}").mock(return_value=httpx.Response(200, json=VIDEO_POST))

    item = await client.media(LONG_TOKEN, "18000000000000002")

    assert item.id == "18000000000000002"
    assert item.media_url == "https://cdn.example.test/v/2.mp4?sig=def"


@pytest.mark.parametrize("media_id", ["", "../me", "1/children", "1?fields=x"])
async def test_media_rejects_id_that_changes_the_path(
    client: InstagramClient, respx_mock: respx.MockRouter, media_id: str
) -> None:
    with pytest.raises(ValueError, match="media_id"):
        await client.media(LONG_TOKEN, media_id)

    assert not respx_mock.calls


# Construction and lifecycle


async def test_from_settings_reads_sandbox_urls_and_secret(
    http_client: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token="123456:FAKE",
        instagram_client_id=CLIENT_ID,
        instagram_client_secret=CLIENT_SECRET,
        instagram_api="basic_display",
        instagram_authorize_url="http://127.0.0.1:8080/sandbox/oauth/authorize",
        instagram_api_url="http://127.0.0.1:8080/sandbox/api",
        instagram_graph_url="http://127.0.0.1:8080/sandbox/graph",
        public_url="http://127.0.0.1:8080",
    )
    client = InstagramClient.from_settings(settings, http_client=http_client)
    route = respx_mock.get("http://127.0.0.1:8080/sandbox/graph/refresh_access_token").mock(
        return_value=httpx.Response(200, json={"access_token": REFRESHED_TOKEN, "expires_in": 60})
    )

    await client.refresh(LONG_TOKEN)

    assert client.flavor == "basic_display"
    assert client.redirect_uri == "http://127.0.0.1:8080/oauth/callback"
    assert client.api_url == "http://127.0.0.1:8080/sandbox/api"
    assert client.authorization_url("s").startswith(
        "http://127.0.0.1:8080/sandbox/oauth/authorize?"
    )
    assert route.called


async def test_from_settings_uses_default_urls_when_unset(http_client: httpx.AsyncClient) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token="123456:FAKE",
        instagram_client_id=CLIENT_ID,
        instagram_client_secret=CLIENT_SECRET,
    )

    client = InstagramClient.from_settings(settings, http_client=http_client)

    assert client.flavor == "instagram_login"
    assert client.api_url == "https://api.instagram.com"
    assert client.graph_url == "https://graph.instagram.com"
    assert client.authorize_url == "https://www.instagram.com/oauth/authorize"


async def test_context_manager_leaves_passed_http_client_open(
    http_client: httpx.AsyncClient,
) -> None:
    async with make_client(http_client):
        pass

    assert not http_client.is_closed


async def test_aclose_closes_http_client_it_created() -> None:
    client = InstagramClient(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
    own_http_client = client._http

    await client.aclose()

    assert own_http_client.is_closed


def test_big_user_id_fixture_exceeds_float_precision() -> None:
    # The big-id tests above only prove something if the id cannot survive a float.
    parsed = json.loads(f'{{"user_id": {BIG_USER_ID}}}')

    assert parsed["user_id"] == int(BIG_USER_ID)
    assert int(float(BIG_USER_ID)) != int(BIG_USER_ID)
