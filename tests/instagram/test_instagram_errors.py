"""InstagramClient failures: error shapes, rate limits, retries, and no leaked secrets."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx
from instagram_fakes import API_URL, CLIENT_SECRET, GRAPH_URL, NOW

from bot.instagram import (
    AuthorizationCodeError,
    InstagramClient,
    InstagramError,
    InstagramUnavailableError,
    InvalidTokenError,
    LongLivedToken,
    RateLimitError,
    ShortLivedToken,
)

TOKEN = "IGQfakeSecretAccessToken000"
CODE = "AQBfakeSecretAuthorizationCode"
PROFILE_URL = f"{GRAPH_URL}/v25.0/me"
MEDIA_URL = f"{GRAPH_URL}/v25.0/me/media"
TOKEN_URL = f"{API_URL}/oauth/access_token"
PROFILE_BODY = {"user_id": "17841400000000001", "username": "fake_user"}
HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, object]:
    """Build a Graph style error body."""
    error: dict[str, object] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCfakeTrace",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


# Error shapes


async def test_graph_error_190_is_invalid_token(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(
            400, json=graph_error(190, "Error validating access token: Session has expired", 463)
        )
    )

    with pytest.raises(InvalidTokenError) as caught:
        await client.profile(TOKEN)

    error = caught.value
    assert error.message == "Error validating access token: Session has expired"
    assert error.status == 400
    assert error.code == 190
    assert error.subcode == 463
    assert error.error_type == "OAuthException"
    assert error.trace_id == "AbCfakeTrace"


async def test_invalid_token_error_during_refresh(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/refresh_access_token").mock(
        return_value=httpx.Response(400, json=graph_error(190, "Invalid OAuth access token."))
    )

    with pytest.raises(InvalidTokenError):
        await client.refresh(TOKEN)


async def test_graph_error_other_code_is_root_error(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(
            400, json=graph_error(100, "Tried accessing nonexisting field")
        )
    )

    with pytest.raises(InstagramError) as caught:
        await client.profile(TOKEN)

    assert type(caught.value) is InstagramError
    assert caught.value.code == 100


async def test_flat_error_outside_code_exchange(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(
            400,
            json={"error_type": "OAuthException", "code": 400, "error_message": "Bad request"},
        )
    )

    with pytest.raises(InstagramError) as caught:
        await client.profile(TOKEN)

    assert type(caught.value) is InstagramError
    assert caught.value.message == "Bad request"
    assert caught.value.error_type == "OAuthException"


async def test_error_body_with_status_200_raises(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(200, json=graph_error(190, "Invalid OAuth access token."))
    )

    with pytest.raises(InvalidTokenError):
        await client.profile(TOKEN)


async def test_oauth2_style_error_parses(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "Code expired"}
        )
    )

    with pytest.raises(AuthorizationCodeError) as caught:
        await client.exchange_code(CODE)

    assert caught.value.message == "Code expired"
    assert caught.value.error_type == "invalid_grant"


async def test_json_error_without_description_names_status(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(return_value=httpx.Response(404, json={}))

    with pytest.raises(InstagramError, match="HTTP 404 for profile") as caught:
        await client.profile(TOKEN)

    assert caught.value.status == 404


def test_error_str_lists_fields() -> None:
    error = InstagramError(
        "Invalid OAuth access token.",
        status=400,
        code=190,
        subcode=460,
        error_type="OAuthException",
        trace_id="AbCfakeTrace",
    )

    assert str(error) == (
        "Invalid OAuth access token. "
        "(HTTP 400, OAuthException, code 190, subcode 460, trace id AbCfakeTrace)"
    )


def test_error_str_without_details_is_message() -> None:
    assert str(InstagramError("Something failed")) == "Something failed"


def test_every_error_is_an_instagram_error() -> None:
    for error_class in (
        InvalidTokenError,
        RateLimitError,
        AuthorizationCodeError,
        InstagramUnavailableError,
    ):
        assert issubclass(error_class, InstagramError)


# Rate limits


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
async def test_rate_limit_codes_raise_rate_limit_error(
    client: InstagramClient, respx_mock: respx.MockRouter, code: int
) -> None:
    route = respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(
            400, json=graph_error(code, "Application request limit reached")
        )
    )

    with pytest.raises(RateLimitError) as caught:
        await client.profile(TOKEN)

    assert caught.value.code == code
    assert caught.value.usage == {}
    assert caught.value.retry_after is None
    assert route.call_count == 1


async def test_rate_limit_parses_app_usage_header(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    app_usage = {"call_count": 100, "total_cputime": 12, "total_time": 40}
    respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(
            400,
            json=graph_error(4, "Application request limit reached"),
            headers={"X-App-Usage": json.dumps(app_usage)},
        )
    )

    with pytest.raises(RateLimitError) as caught:
        await client.profile(TOKEN)

    assert caught.value.usage == {"x-app-usage": app_usage}
    assert caught.value.retry_after is None


async def test_rate_limit_retry_after_from_business_usage(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    business_usage = {
        "17841400000000001": [
            {
                "type": "instagram",
                "call_count": 100,
                "total_cputime": 30,
                "total_time": 95,
                "estimated_time_to_regain_access": 5,
            },
            {"type": "messenger", "call_count": 3, "estimated_time_to_regain_access": 0},
        ]
    }
    respx_mock.get(MEDIA_URL).mock(
        return_value=httpx.Response(
            400,
            json=graph_error(80002, "There have been too many calls to this Instagram account"),
            headers={"X-Business-Use-Case-Usage": json.dumps(business_usage)},
        )
    )

    with pytest.raises(RateLimitError) as caught:
        await client.media_page(TOKEN)

    assert caught.value.usage == {"x-business-use-case-usage": business_usage}
    assert caught.value.retry_after == 300.0


async def test_rate_limit_ignores_malformed_usage_header(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(
            400,
            json=graph_error(17, "User request limit reached"),
            headers={"X-App-Usage": "{not json", "X-Business-Use-Case-Usage": '{"1": "x"}'},
        )
    )

    with pytest.raises(RateLimitError) as caught:
        await client.profile(TOKEN)

    assert caught.value.usage == {"x-business-use-case-usage": {"1": "x"}}
    assert caught.value.retry_after is None


async def test_http_429_is_rate_limit(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(return_value=httpx.Response(429, json={}))

    with pytest.raises(RateLimitError) as caught:
        await client.profile(TOKEN)

    assert caught.value.status == 429


async def test_http_429_honours_retry_after_header(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(429, json={}, headers={"Retry-After": "120"})
    )

    with pytest.raises(RateLimitError) as caught:
        await client.profile(TOKEN)

    assert caught.value.retry_after == 120.0


# Retries and unavailability


async def test_get_retries_server_errors_then_succeeds(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(PROFILE_URL).mock(
        side_effect=[
            httpx.Response(503, text="Service Unavailable"),
            httpx.Response(500, json=graph_error(2, "Service temporarily unavailable")),
            httpx.Response(200, json=PROFILE_BODY),
        ]
    )

    profile = await client.profile(TOKEN)

    assert profile.username == "fake_user"
    assert route.call_count == 3


async def test_get_gives_up_after_max_attempts(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(500, json=graph_error(1, "An unknown error occurred"))
    )

    with pytest.raises(InstagramUnavailableError) as caught:
        await client.profile(TOKEN)

    assert caught.value.status == 500
    assert caught.value.code == 1
    assert caught.value.message == "An unknown error occurred"
    assert route.call_count == client.max_attempts


async def test_html_502_body_raises_unavailable(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(MEDIA_URL).mock(
        return_value=httpx.Response(502, text=HTML_502, headers={"content-type": "text/html"})
    )

    with pytest.raises(InstagramUnavailableError, match="non-JSON body") as caught:
        await client.media_page(TOKEN)

    assert caught.value.status == 502
    assert "text/html" in str(caught.value)
    assert route.call_count == 3


async def test_html_200_is_unavailable_without_retry(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(200, text="<html>captive portal</html>")
    )

    with pytest.raises(InstagramUnavailableError) as caught:
        await client.profile(TOKEN)

    assert caught.value.status == 200
    assert route.call_count == 1


async def test_get_retries_timeout_then_succeeds(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(PROFILE_URL).mock(
        side_effect=[httpx.ReadTimeout("timed out"), httpx.Response(200, json=PROFILE_BODY)]
    )

    profile = await client.profile(TOKEN)

    assert profile.user_id == "17841400000000001"
    assert route.call_count == 2


async def test_timeout_on_every_attempt_raises_unavailable(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(PROFILE_URL).mock(side_effect=httpx.ConnectTimeout("timed out"))

    with pytest.raises(InstagramUnavailableError, match="timed out") as caught:
        await client.profile(TOKEN)

    assert caught.value.status is None


async def test_connection_error_raises_unavailable(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(PROFILE_URL).mock(
        side_effect=httpx.ConnectError("All connection attempts failed")
    )

    with pytest.raises(InstagramUnavailableError, match="Could not reach Instagram"):
        await client.profile(TOKEN)

    assert route.call_count == 3


async def test_client_errors_are_not_retried(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(PROFILE_URL).mock(
        return_value=httpx.Response(400, json=graph_error(190, "Invalid OAuth access token."))
    )

    with pytest.raises(InvalidTokenError):
        await client.profile(TOKEN)

    assert route.call_count == 1


# Secrets stay out of reprs, messages and logs


def test_client_repr_hides_secret(client: InstagramClient) -> None:
    text = repr(client)

    assert CLIENT_SECRET not in text
    assert "990011223344" in text


def test_token_reprs_hide_access_token() -> None:
    short = ShortLivedToken(access_token=TOKEN, user_id="1")
    long_lived = LongLivedToken(
        access_token=TOKEN, token_type="bearer", expires_in=60, issued_at=NOW, expires_at=NOW
    )

    assert TOKEN not in repr(short)
    assert TOKEN not in repr(long_lived)


async def test_error_message_echoing_token_is_redacted(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{GRAPH_URL}/access_token").mock(
        return_value=httpx.Response(
            400,
            json=graph_error(
                100, f"Invalid parameter: access_token {TOKEN} with secret {CLIENT_SECRET}"
            ),
        )
    )

    with pytest.raises(InstagramError) as caught:
        await client.exchange_for_long_lived(TOKEN)

    for text in (str(caught.value), repr(caught.value), caught.value.message):
        assert TOKEN not in text
        assert CLIENT_SECRET not in text
    assert "[redacted]" in caught.value.message


async def test_code_exchange_error_message_hides_code(
    client: InstagramClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400,
            json={
                "error_type": "OAuthException",
                "code": 400,
                "error_message": f"Invalid authorization code {CODE}",
            },
        )
    )

    with pytest.raises(AuthorizationCodeError) as caught:
        await client.exchange_code(CODE)

    assert CODE not in str(caught.value)


@pytest.mark.parametrize(
    "transport_error",
    [
        httpx.ConnectError("failed to connect to graph.instagram.test"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.DecodingError("Error -3 while decompressing data"),
    ],
)
async def test_transport_error_hides_url_and_chain(
    client: InstagramClient, respx_mock: respx.MockRouter, transport_error: httpx.HTTPError
) -> None:
    respx_mock.get(f"{GRAPH_URL}/access_token").mock(side_effect=transport_error)

    with pytest.raises(InstagramUnavailableError) as caught:
        await client.exchange_for_long_lived(TOKEN)

    assert TOKEN not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)
    assert "access_token=" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


async def test_debug_logs_hide_tokens_and_secret(
    client: InstagramClient, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": TOKEN, "user_id": "1"})
    )
    respx_mock.get(f"{GRAPH_URL}/access_token").mock(
        side_effect=[
            httpx.ConnectError("connection refused"),
            httpx.Response(502, text=HTML_502),
            httpx.Response(200, json={"access_token": TOKEN + "L", "expires_in": 5184000}),
        ]
    )
    respx_mock.get(MEDIA_URL).mock(
        return_value=httpx.Response(200, json={"data": [{"id": "1", "media_type": "REEL"}]})
    )
    caplog.set_level(logging.DEBUG)

    token = await client.long_lived_token_from_code(CODE)
    await client.media_page(token.access_token)

    # httpx logs full request URLs itself; the application's log handler redacts those, so
    # this client's own records are what must stay clean here.
    own_records = [record for record in caplog.records if record.name.startswith("bot.")]
    assert own_records
    for record in own_records:
        message = record.getMessage()
        assert TOKEN not in message
        assert CLIENT_SECRET not in message
        assert CODE not in message
        assert record.levelno == logging.DEBUG
