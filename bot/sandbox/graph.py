"""Graph endpoints of the sandbox: token exchange and refresh, profile, media and children."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.sandbox.content import SandboxAccount, SandboxMedia, SandboxMediaType
from bot.sandbox.keys import SANDBOX_STATE
from bot.sandbox.signing import media_signature
from bot.sandbox.state import LONG_LIVED_TOKEN_TTL, Flavor, GraphError, SandboxState, TokenRecord

__all__ = ["FieldRequest", "access_token_from_request", "add_graph_routes", "parse_fields"]

_DEFAULT_PAGE_SIZE = 25
_MAX_PAGE_SIZE = 100
_VERSION_PATTERN = r"{version:v\d+\.\d+}"

_PROFILE_FIELDS = {
    Flavor.BASIC_DISPLAY: frozenset({"id", "username", "account_type", "media_count"}),
    Flavor.INSTAGRAM_LOGIN: frozenset(
        {
            "id",
            "user_id",
            "username",
            "name",
            "account_type",
            "profile_picture_url",
            "media_count",
            "followers_count",
            "follows_count",
        }
    ),
}
_BASIC_MEDIA_FIELDS = frozenset(
    {
        "id",
        "caption",
        "media_type",
        "media_url",
        "permalink",
        "thumbnail_url",
        "timestamp",
        "username",
        "children",
    }
)
_MEDIA_FIELDS = {
    Flavor.BASIC_DISPLAY: _BASIC_MEDIA_FIELDS,
    Flavor.INSTAGRAM_LOGIN: _BASIC_MEDIA_FIELDS
    | {"media_product_type", "shortcode", "is_shared_to_feed", "like_count", "comments_count"},
}


@dataclass(frozen=True, slots=True)
class FieldRequest:
    """One entry of a `fields` parameter, with the nested fields inside `{}` if any."""

    name: str
    subfields: tuple[FieldRequest, ...] | None = None


def parse_fields(raw: str) -> tuple[FieldRequest, ...]:
    """Parse `id,caption,children{media_type,media_url}`, or raise GraphError code 100."""
    fields, position = _parse_field_list(raw, 0, nested=False)
    if position != len(raw):
        raise GraphError(f"Syntax error in fields at character {position}: {raw!r}", code=100)
    return fields


def _parse_field_list(
    raw: str, position: int, *, nested: bool
) -> tuple[tuple[FieldRequest, ...], int]:
    fields: list[FieldRequest] = []
    while position < len(raw):
        start = position
        while position < len(raw) and raw[position] not in ",{}":
            position += 1
        name = raw[start:position].strip()
        subfields: tuple[FieldRequest, ...] | None = None
        if position < len(raw) and raw[position] == "{":
            subfields, position = _parse_field_list(raw, position + 1, nested=True)
            if position >= len(raw) or raw[position] != "}":
                raise GraphError(f"Syntax error in fields: missing '}}' in {raw!r}", code=100)
            position += 1
        if name:
            fields.append(FieldRequest(name, subfields))
        if position < len(raw) and raw[position] == ",":
            position += 1
            continue
        if position < len(raw) and raw[position] == "}":
            if not nested:
                raise GraphError(f"Syntax error in fields: unexpected '}}' in {raw!r}", code=100)
            return tuple(fields), position
    return tuple(fields), position


def access_token_from_request(request: web.Request) -> str | None:
    """Return the token from `access_token` or an `Authorization: Bearer` header."""
    token = request.query.get("access_token")
    if token:
        return token
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _nonexisting_field(name: str, node_type: str) -> GraphError:
    return GraphError(
        f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})",
        code=100,
    )


def _unsupported_get(object_id: str) -> GraphError:
    return GraphError(
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        code=100,
        subcode=33,
        error_type="GraphMethodException",
    )


def _format_timestamp(media: SandboxMedia) -> str:
    return media.timestamp.strftime("%Y-%m-%dT%H:%M:%S+0000")


class _MediaRenderer:
    """Turns sandbox media into Graph JSON, with freshly signed media URLs."""

    def __init__(self, request: web.Request, state: SandboxState, flavor: Flavor) -> None:
        self._request = request
        self._state = state
        self._flavor = flavor
        self._expires = int((state.now() + state.media_url_ttl).timestamp())

    def signed_url(self, route_name: str, **parts: str) -> str:
        """Return an absolute media URL that stops working after the media URL lifetime."""
        path = self._request.app.router[route_name].url_for(**parts).path
        signature = media_signature(self._state.media_key, path, self._expires)
        query = urlencode({"expires": self._expires, "sig": signature})
        return f"{self._state.public_url}{path}?{query}"

    def permalink(self, media: SandboxMedia) -> str:
        path = self._request.app.router["post.page"].url_for(shortcode=media.shortcode).path
        return f"{self._state.public_url}{path}"

    def validate(self, fields: tuple[FieldRequest, ...], *, nested: bool = False) -> None:
        allowed = _MEDIA_FIELDS[self._flavor]
        for field in fields:
            if field.name not in allowed or (nested and field.name == "children"):
                raise _nonexisting_field(field.name, "IGMedia")
            if field.subfields is not None:
                if field.name != "children":
                    raise GraphError(
                        f"(#100) Field {field.name} does not take nested fields", code=100
                    )
                self.validate(field.subfields, nested=True)

    def render(
        self,
        media: SandboxMedia,
        fields: tuple[FieldRequest, ...],
        parent: SandboxMedia | None = None,
    ) -> dict[str, Any]:
        """Render the requested fields, plus `id`, which the Graph API always includes."""
        result: dict[str, Any] = {}
        for field in fields:
            self._render_field(result, media, field, parent)
        result.setdefault("id", media.id)
        return result

    def _media_url(self, media: SandboxMedia) -> str | None:
        if not media.has_media_url:
            return None
        if media.media_type is SandboxMediaType.VIDEO:
            return self.signed_url("media.video", media_id=media.id)
        if media.media_type is SandboxMediaType.CAROUSEL_ALBUM:
            # A carousel's own media_url is that of its first child.
            return self._media_url(media.children[0]) if media.children else None
        return self.signed_url("media.image", media_id=media.id)

    def _render_field(
        self,
        result: dict[str, Any],
        media: SandboxMedia,
        field: FieldRequest,
        parent: SandboxMedia | None,
    ) -> None:
        name = field.name
        post = parent or media
        if name == "id":
            result["id"] = media.id
        elif name == "caption":
            # Absent, not null, when a post has no caption. Carousel children never have one.
            if media.caption is not None:
                result["caption"] = media.caption
        elif name == "media_type":
            result["media_type"] = str(media.media_type)
        elif name == "media_product_type":
            is_reel = media.media_type is SandboxMediaType.VIDEO and parent is None
            result["media_product_type"] = "REELS" if is_reel else "FEED"
        elif name == "media_url":
            media_url = self._media_url(media)
            if media_url is not None:
                result["media_url"] = media_url
        elif name == "thumbnail_url":
            if media.media_type is SandboxMediaType.VIDEO:
                result["thumbnail_url"] = self.signed_url("media.thumbnail", media_id=media.id)
        elif name == "permalink":
            result["permalink"] = self.permalink(post)
        elif name == "shortcode":
            result["shortcode"] = media.shortcode
        elif name == "timestamp":
            result["timestamp"] = _format_timestamp(media)
        elif name == "username":
            result["username"] = media.username
        elif name == "is_shared_to_feed":
            if media.media_type is SandboxMediaType.VIDEO and parent is None:
                result["is_shared_to_feed"] = True
        elif name == "like_count":
            result["like_count"] = (int(media.id) // 100) % 97
        elif name == "comments_count":
            result["comments_count"] = (int(media.id) // 100) % 13
        elif name == "children" and media.media_type is SandboxMediaType.CAROUSEL_ALBUM:
            child_fields = field.subfields or (FieldRequest("id"),)
            result["children"] = {
                "data": [self.render(child, child_fields, media) for child in media.children]
            }


def _state(request: web.Request) -> SandboxState:
    return request.app[SANDBOX_STATE]


def _authenticate(request: web.Request) -> tuple[SandboxAccount, TokenRecord]:
    return _state(request).authenticate(access_token_from_request(request))


def _requested_fields(request: web.Request) -> tuple[FieldRequest, ...]:
    raw = request.query.get("fields", "")
    return parse_fields(raw) if raw else (FieldRequest("id"),)


def _long_lived_response(token: str) -> web.Response:
    return web.json_response(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(LONG_LIVED_TOKEN_TTL.total_seconds()),
        }
    )


async def exchange_for_long_lived(request: web.Request) -> web.Response:
    """Exchange a short-lived token for a 60-day token."""
    token, _ = _state(request).exchange_for_long_lived(
        grant_type=request.query.get("grant_type", ""),
        client_secret=request.query.get("client_secret", ""),
        access_token=access_token_from_request(request),
    )
    return _long_lived_response(token)


async def refresh_long_lived(request: web.Request) -> web.Response:
    """Refresh a long-lived token that is at least 24 hours old."""
    token, _ = _state(request).refresh(
        grant_type=request.query.get("grant_type", ""),
        access_token=access_token_from_request(request),
    )
    return _long_lived_response(token)


async def profile(request: web.Request) -> web.Response:
    """Return the token owner's profile with the fields this flavor offers."""
    account, record = _authenticate(request)
    fields = _requested_fields(request)
    allowed = _PROFILE_FIELDS[record.flavor]
    node_type = "User" if record.flavor is Flavor.BASIC_DISPLAY else "IGUser"
    for field in fields:
        if field.name not in allowed or field.subfields is not None:
            raise _nonexisting_field(field.name, node_type)

    is_basic = record.flavor is Flavor.BASIC_DISPLAY
    values: dict[str, Any] = {
        "id": account.id,
        "user_id": account.id,
        "username": account.username,
        "name": account.name,
        "account_type": account.account_type_basic if is_basic else account.account_type_login,
        "media_count": len(account.posts),
        "followers_count": (account.user_id % 997) * 3,
        "follows_count": account.user_id % 211,
    }
    renderer = _MediaRenderer(request, _state(request), record.flavor)
    values["profile_picture_url"] = renderer.signed_url("media.avatar", user_id=account.id)
    result = {field.name: values[field.name] for field in fields}
    result.setdefault("id", account.id)
    return web.json_response(result)


def _encode_cursor(media: SandboxMedia) -> str:
    return base64.urlsafe_b64encode(f"media:{media.id}".encode()).decode("ascii").rstrip("=")


def _cursor_position(account: SandboxAccount, cursor: str) -> int:
    """Return the index in the account's posts that `cursor` points at."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise GraphError("(#100) Invalid cursor", code=100) from exc
    prefix, _, media_id = decoded.partition(":")
    for index, post in enumerate(account.posts):
        if prefix == "media" and post.id == media_id:
            return index
    raise GraphError("(#100) Invalid cursor", code=100)


def _page_size(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return _DEFAULT_PAGE_SIZE
    try:
        limit = int(raw)
    except ValueError as exc:
        raise GraphError(f"(#100) Param limit must be a number, got {raw!r}", code=100) from exc
    if limit < 1:
        raise GraphError(f"(#100) Param limit must be positive, got {limit}", code=100)
    return min(limit, _MAX_PAGE_SIZE)


def _page_url(request: web.Request, state: SandboxState, cursor_name: str, cursor: str) -> str:
    query = {key: value for key, value in request.query.items() if key not in ("after", "before")}
    query[cursor_name] = cursor
    return f"{state.public_url}{request.path}?{urlencode(query)}"


async def media_page(request: web.Request) -> web.Response:
    """Return one page of the owner's media, newest first, with cursor paging."""
    state = _state(request)
    account, record = _authenticate(request)
    renderer = _MediaRenderer(request, state, record.flavor)
    fields = _requested_fields(request)
    renderer.validate(fields)
    limit = _page_size(request)

    posts = account.posts
    after = request.query.get("after")
    before = request.query.get("before")
    if after:
        start = _cursor_position(account, after) + 1
        end = min(start + limit, len(posts))
    elif before:
        end = _cursor_position(account, before)
        start = max(end - limit, 0)
    else:
        start, end = 0, min(limit, len(posts))
    page = posts[start:end]

    body: dict[str, Any] = {"data": [renderer.render(post, fields) for post in page]}
    if page:
        paging: dict[str, Any] = {
            "cursors": {"before": _encode_cursor(page[0]), "after": _encode_cursor(page[-1])}
        }
        # The last page has no `next`, and the first page has no `previous`.
        if end < len(posts):
            paging["next"] = _page_url(request, state, "after", paging["cursors"]["after"])
        if start > 0:
            paging["previous"] = _page_url(request, state, "before", paging["cursors"]["before"])
        body["paging"] = paging
    return web.json_response(body)


def _owned_media(request: web.Request, account: SandboxAccount) -> SandboxMedia:
    media_id = request.match_info["media_id"]
    found = _state(request).find_media(media_id)
    if found is None or found[0].id != account.id:
        raise _unsupported_get(media_id)
    return found[1]


async def children(request: web.Request) -> web.Response:
    """Return the children of a carousel; other media have none."""
    state = _state(request)
    account, record = _authenticate(request)
    media = _owned_media(request, account)
    renderer = _MediaRenderer(request, state, record.flavor)
    fields = _requested_fields(request)
    renderer.validate(fields, nested=True)
    return web.json_response(
        {"data": [renderer.render(child, fields, media) for child in media.children]}
    )


async def single_media(request: web.Request) -> web.Response:
    """Return one post or carousel child by id, with fresh media URLs."""
    state = _state(request)
    account, record = _authenticate(request)
    media = _owned_media(request, account)
    parent = None
    if media.parent_id is not None:
        found = state.find_media(media.parent_id)
        parent = found[1] if found else None
    renderer = _MediaRenderer(request, state, record.flavor)
    fields = _requested_fields(request)
    renderer.validate(fields, nested=parent is not None)
    return web.json_response(renderer.render(media, fields, parent))


def add_graph_routes(router: web.UrlDispatcher) -> None:
    """Register every Graph route, without and with a version prefix.

    Route names of the versioned copies end in `:versioned`; request counters drop it.
    """
    routes = (
        ("/access_token", exchange_for_long_lived, "graph.access_token"),
        ("/refresh_access_token", refresh_long_lived, "graph.refresh_access_token"),
        ("/me", profile, "graph.me"),
        ("/me/media", media_page, "graph.me_media"),
        (r"/{media_id:\d+}/children", children, "graph.children"),
        (r"/{media_id:\d+}", single_media, "graph.media"),
    )
    for path, handler, name in routes:
        router.add_get(f"/graph{path}", handler, name=name)
    for path, handler, name in routes:
        router.add_get(f"/graph/{_VERSION_PATTERN}{path}", handler, name=f"{name}:versioned")
