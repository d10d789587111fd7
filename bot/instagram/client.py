"""Async client for the Instagram API with Instagram Login and the Basic Display API."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from bot.clock import Clock, utc_now
from bot.config import InstagramFlavor
from bot.instagram.errors import (
    AuthorizationCodeError,
    InstagramUnavailableError,
    error_from_response,
    has_error,
)
from bot.instagram.models import LongLivedToken, MediaItem, MediaPage, Profile, ShortLivedToken
from bot.instagram.parsing import (
    parse_children,
    parse_long_lived_token,
    parse_media_item,
    parse_media_page,
    parse_profile,
    parse_short_lived_token,
)

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_GRAPH_URL",
    "DEFAULT_GRAPH_VERSION",
    "InstagramClient",
]

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.instagram.com"
DEFAULT_GRAPH_URL = "https://graph.instagram.com"
DEFAULT_GRAPH_VERSION = "v25.0"
DEFAULT_AUTHORIZE_URLS = {
    InstagramFlavor.INSTAGRAM_LOGIN: "https://www.instagram.com/oauth/authorize",
    InstagramFlavor.BASIC_DISPLAY: "https://api.instagram.com/oauth/authorize",
}
SCOPES = {
    InstagramFlavor.INSTAGRAM_LOGIN: "instagram_business_basic",
    InstagramFlavor.BASIC_DISPLAY: "user_profile,user_media",
}
PROFILE_FIELDS = {
    InstagramFlavor.INSTAGRAM_LOGIN: "user_id,username,name,account_type,profile_picture_url,"
    "media_count",
    InstagramFlavor.BASIC_DISPLAY: "id,username,account_type,media_count",
}
CHILD_FIELDS = "id,media_type,media_url,thumbnail_url"
MEDIA_FIELDS = (
    "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp,username,"
    "children{media_type,media_url,thumbnail_url}"
)

# Media ids are numeric in production; letters and underscores are allowed for stand-ins,
# anything else could change the request path.
_MEDIA_ID = re.compile(r"[A-Za-z0-9_]+")

_AUTHORIZATION_CODE_SUFFIX = "#_"


class InstagramClient:
    """Async client for the OAuth flow and the read-only media endpoints of one Instagram app.

    All calls share one `httpx.AsyncClient`. Idempotent GET calls are retried on timeouts,
    connection errors and 5xx responses with jittered exponential backoff. The code exchange
    is never retried, because a code is single-use.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        flavor: str = "instagram_login",
        authorize_url: str | None = None,
        api_url: str | None = None,
        graph_url: str | None = None,
        graph_version: str = DEFAULT_GRAPH_VERSION,
        http_client: httpx.AsyncClient | None = None,
        *,
        clock: Clock = utc_now,
        max_attempts: int = 3,
        retry_base_delay: float = 0.5,
    ) -> None:
        if not client_id:
            raise ValueError("client_id is empty; set it to the Instagram app id")
        if not client_secret:
            raise ValueError("client_secret is empty; set it to the Instagram app secret")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")

        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.flavor = InstagramFlavor(flavor)
        self.authorize_url = authorize_url or DEFAULT_AUTHORIZE_URLS[self.flavor]
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.graph_url = (graph_url or DEFAULT_GRAPH_URL).rstrip("/")
        self.graph_version = graph_version.strip("/")
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay

        self._owns_http_client = http_client is None
        self._http = http_client if http_client is not None else _create_http_client()

    @classmethod
    def from_settings(
        cls, settings: Settings, http_client: httpx.AsyncClient | None = None
    ) -> InstagramClient:
        """Create a client from the `INSTAGRAM_*` settings and the redirect URI."""
        secret = settings.instagram_client_secret
        return cls(
            client_id=settings.instagram_client_id or "",
            client_secret=secret.get_secret_value() if secret is not None else "",
            redirect_uri=settings.redirect_uri,
            flavor=settings.instagram_api,
            authorize_url=_optional_url(settings.instagram_authorize_url),
            api_url=_optional_url(settings.instagram_api_url),
            graph_url=_optional_url(settings.instagram_graph_url),
            graph_version=settings.instagram_graph_version,
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(client_id={self.client_id!r}, flavor={self.flavor.value!r}, "
            f"api_url={self.api_url!r}, graph_url={self.graph_url!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it; a passed-in one stays open."""
        if self._owns_http_client:
            await self._http.aclose()

    # OAuth

    def authorization_url(self, state: str) -> str:
        """Build the URL of the authorization window for the given OAuth `state`."""
        if not state:
            raise ValueError("state is empty; pass the random OAuth state of this request")
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES[self.flavor],
            "response_type": "code",
            "state": state,
        }
        return str(httpx.URL(self.authorize_url).copy_merge_params(params))

    async def exchange_code(self, code: str) -> ShortLivedToken:
        """Exchange an authorization code for a short-lived token (about one hour).

        Raises:
            AuthorizationCodeError: the code is empty, invalid, used or expired, or the
                redirect URI does not match.
        """
        code = _clean_authorization_code(code)
        if not code:
            raise AuthorizationCodeError("The authorization code is empty")
        form = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "grant_type": "authorization_code",
            "redirect_uri": self.redirect_uri,
            "code": code,
        }
        body = await self._request(
            "POST",
            f"{self.api_url}/oauth/access_token",
            operation="code exchange",
            data=form,
            secrets=(code,),
            retry=False,
            code_exchange=True,
        )
        return parse_short_lived_token(body)

    async def exchange_for_long_lived(self, short_token: str) -> LongLivedToken:
        """Exchange a short-lived token for a 60-day token."""
        params = {
            "grant_type": "ig_exchange_token",
            "client_secret": self._client_secret,
            "access_token": short_token,
        }
        body = await self._request(
            "GET",
            f"{self.graph_url}/access_token",
            operation="long-lived token exchange",
            params=params,
            secrets=(short_token,),
        )
        return parse_long_lived_token(body, issued_at=self.clock())

    async def long_lived_token_from_code(self, code: str) -> LongLivedToken:
        """Exchange an authorization code for a long-lived token that carries the user id."""
        short = await self.exchange_code(code)
        long_lived = await self.exchange_for_long_lived(short.access_token)
        return dataclasses.replace(long_lived, user_id=short.user_id)

    async def refresh(self, token: str) -> LongLivedToken:
        """Refresh a long-lived token that is at least 24 hours old and not expired."""
        params = {"grant_type": "ig_refresh_token", "access_token": token}
        body = await self._request(
            "GET",
            f"{self.graph_url}/refresh_access_token",
            operation="token refresh",
            params=params,
            secrets=(token,),
        )
        return parse_long_lived_token(body, issued_at=self.clock())

    # Graph reads

    async def profile(self, token: str) -> Profile:
        """Fetch the profile of the token's user."""
        params = {"fields": PROFILE_FIELDS[self.flavor], "access_token": token}
        body = await self._request(
            "GET", self._graph_path("me"), operation="profile", params=params, secrets=(token,)
        )
        return parse_profile(body)

    async def media_page(self, token: str, after: str | None = None, limit: int = 25) -> MediaPage:
        """Fetch one page of the user's posts, newest first, with carousel children inline."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        params = {"fields": MEDIA_FIELDS, "limit": str(limit), "access_token": token}
        if after:
            params["after"] = after
        body = await self._request(
            "GET",
            self._graph_path("me/media"),
            operation="media page",
            params=params,
            secrets=(token,),
        )
        return parse_media_page(body)

    async def children(self, token: str, media_id: str) -> tuple[MediaItem, ...]:
        """Fetch the items of a carousel whose children were not returned inline."""
        params = {"fields": CHILD_FIELDS, "access_token": token}
        body = await self._request(
            "GET",
            self._graph_path(f"{_checked_media_id(media_id)}/children"),
            operation="carousel children",
            params=params,
            secrets=(token,),
        )
        return parse_children(body)

    async def media(self, token: str, media_id: str) -> MediaItem:
        """Fetch one post by id, for example to get a fresh `media_url`."""
        params = {"fields": MEDIA_FIELDS, "access_token": token}
        body = await self._request(
            "GET",
            self._graph_path(_checked_media_id(media_id)),
            operation="media item",
            params=params,
            secrets=(token,),
        )
        return parse_media_item(body)

    # Transport

    def _graph_path(self, path: str) -> str:
        if self.flavor is InstagramFlavor.BASIC_DISPLAY:
            return f"{self.graph_url}/{path}"
        return f"{self.graph_url}/{self.graph_version}/{path}"

    async def _request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        retry: bool = True,
        code_exchange: bool = False,
    ) -> Any:
        """Send one call, retrying GETs, and return the decoded JSON of a successful response."""
        secrets = (*secrets, self._client_secret)
        attempts = self.max_attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(
                    method,
                    url,
                    operation=operation,
                    params=params,
                    data=data,
                    secrets=secrets,
                    code_exchange=code_exchange,
                )
            except InstagramUnavailableError as exc:
                # A 4xx or 200 response that is not JSON will not change on a second try.
                transient = exc.status is None or exc.status >= 500
                if not transient or attempt == attempts:
                    raise
                delay = self._backoff_delay(attempt)
                logger.debug(
                    "Instagram %s failed (%s), retrying in %.2f s (attempt %d of %d)",
                    operation,
                    exc,
                    delay,
                    attempt,
                    attempts,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        secrets: tuple[str, ...],
        code_exchange: bool,
    ) -> Any:
        # httpx exceptions carry the request URL, whose query holds tokens, so they are
        # described here and the InstagramError is raised outside the except block: that way
        # neither the message nor the exception chain contains the URL.
        failure: str | None = None
        try:
            response = await self._http.request(method, url, params=params, data=data)
        except httpx.TimeoutException as exc:
            failure = f"Instagram {operation} timed out ({type(exc).__name__})"
        except httpx.RequestError as exc:
            failure = f"Could not reach Instagram for {operation} ({type(exc).__name__})"
        if failure is not None:
            raise InstagramUnavailableError(failure)

        logger.debug("Instagram %s returned HTTP %d", operation, response.status_code)
        body = _decode_json(response, operation)
        if response.status_code >= 400 or has_error(body):
            raise error_from_response(
                response.status_code,
                body,
                response.headers,
                operation=operation,
                code_exchange=code_exchange,
                secrets=secrets,
            )
        return body

    def _backoff_delay(self, attempt: int) -> float:
        base: float = self.retry_base_delay * 2 ** (attempt - 1)
        return base * random.uniform(0.5, 1.0)


def _create_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(20.0, connect=5.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        http2=True,
        headers={"User-Agent": "gramlink"},
    )


def _decode_json(response: httpx.Response, operation: str) -> Any:
    try:
        return response.json()
    except ValueError:
        status = response.status_code
        content_type = response.headers.get("content-type", "no content type")
        raise InstagramUnavailableError(
            f"Instagram {operation} returned HTTP {status} with a non-JSON body ({content_type})",
            status=status,
        ) from None


def _clean_authorization_code(code: str) -> str:
    # A code copied from the address bar can end in "#_", which is not part of the code.
    code = code.strip()
    return code.removesuffix(_AUTHORIZATION_CODE_SUFFIX).strip()


def _checked_media_id(media_id: str) -> str:
    if not _MEDIA_ID.fullmatch(media_id):
        raise ValueError(f"media_id {media_id!r} is not a valid Instagram media id")
    return media_id


def _optional_url(value: object | None) -> str | None:
    return str(value) if value is not None else None
