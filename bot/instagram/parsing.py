"""Parse successful Instagram JSON responses into the typed models.

Every function raises InstagramError with a message naming the missing or malformed field,
so a body of the wrong shape never escapes as KeyError or TypeError.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.instagram.errors import InstagramError
from bot.instagram.models import (
    LongLivedToken,
    MediaItem,
    MediaPage,
    MediaType,
    Profile,
    ShortLivedToken,
)

__all__ = [
    "parse_children",
    "parse_long_lived_token",
    "parse_media_item",
    "parse_media_page",
    "parse_profile",
    "parse_short_lived_token",
    "parse_timestamp",
]

logger = logging.getLogger(__name__)

_KNOWN_MEDIA_TYPES = {member.value: member for member in MediaType}


def parse_short_lived_token(body: Any) -> ShortLivedToken:
    """Parse the code exchange response, flat or wrapped in `{"data": [{...}]}`."""
    data = _object(body, "token response")
    wrapped = data.get("data")
    if "access_token" not in data and isinstance(wrapped, list):
        if not wrapped:
            raise InstagramError("Unexpected token response from Instagram: `data` is empty")
        data = _object(wrapped[0], "token response `data` item")

    return ShortLivedToken(
        access_token=_required_text(data, "access_token", "token response"),
        user_id=_identifier(data.get("user_id"), "user_id", "token response"),
        permissions=_permissions(data.get("permissions")),
    )


def parse_long_lived_token(body: Any, issued_at: datetime) -> LongLivedToken:
    """Parse a long-lived or refreshed token; its expiry counts from `issued_at`."""
    data = _object(body, "long-lived token response")
    expires_in = _optional_integer(data.get("expires_in"))
    if expires_in is None or expires_in <= 0:
        raise InstagramError(
            "Unexpected long-lived token response from Instagram: "
            "`expires_in` is missing or not a positive number of seconds"
        )
    token_type = data.get("token_type")

    return LongLivedToken(
        access_token=_required_text(data, "access_token", "long-lived token response"),
        token_type=token_type if isinstance(token_type, str) and token_type else "bearer",
        expires_in=expires_in,
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=expires_in),
    )


def parse_profile(body: Any) -> Profile:
    """Parse `/me`, reading the account id from `user_id` (Instagram Login) or `id`."""
    data = _object(body, "profile")
    raw_id = data.get("user_id", data.get("id"))

    return Profile(
        user_id=_identifier(raw_id, "user_id", "profile"),
        username=_required_text(data, "username", "profile"),
        account_type=_optional_text(data.get("account_type")),
        name=_optional_text(data.get("name")),
        profile_picture_url=_optional_text(data.get("profile_picture_url")),
        media_count=_optional_integer(data.get("media_count")),
    )


def parse_media_page(body: Any) -> MediaPage:
    """Parse a page of `/me/media` with its cursors; the last page has no `paging.next`."""
    data = _object(body, "media page")
    raw_items = data.get("data")
    if not isinstance(raw_items, list):
        raise InstagramError("Unexpected media page from Instagram: `data` is not a list")
    paging = data.get("paging")
    paging = paging if isinstance(paging, Mapping) else {}
    cursors = paging.get("cursors")
    cursors = cursors if isinstance(cursors, Mapping) else {}

    return MediaPage(
        items=tuple(parse_media_item(item) for item in raw_items),
        before=_optional_text(cursors.get("before")),
        after=_optional_text(cursors.get("after")),
        has_next=bool(paging.get("next")),
    )


def parse_children(body: Any) -> tuple[MediaItem, ...]:
    """Parse the `data` list of a carousel's children."""
    data = _object(body, "carousel children")
    raw_items = data.get("data")
    if not isinstance(raw_items, list):
        raise InstagramError("Unexpected carousel children from Instagram: `data` is not a list")
    return tuple(parse_media_item(item) for item in raw_items)


def parse_media_item(body: Any) -> MediaItem:
    """Parse one post or carousel child, with the children that came inline."""
    data = _object(body, "media item")
    media_id = _identifier(data.get("id"), "id", "media item")
    children: tuple[MediaItem, ...] = ()
    raw_children = data.get("children")
    if isinstance(raw_children, Mapping):
        children = parse_children(raw_children)
    thumbnail_url = _optional_text(data.get("thumbnail_url"))

    return MediaItem(
        id=media_id,
        media_type=_media_type(data.get("media_type"), media_id, thumbnail_url, children),
        media_url=_optional_text(data.get("media_url")),
        permalink=_optional_text(data.get("permalink")),
        thumbnail_url=thumbnail_url,
        timestamp=parse_timestamp(data.get("timestamp")),
        caption=data.get("caption") if isinstance(data.get("caption"), str) else None,
        username=_optional_text(data.get("username")),
        children=children,
    )


def parse_timestamp(value: Any) -> datetime | None:
    """Parse `2024-03-05T10:35:40+0000` (or an ISO 8601 variant) into an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    # Python 3.11's fromisoformat reads Instagram's `+0000` offset and is much faster than
    # strptime, which stays as the fallback for forms such as unpadded fields.
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            logger.debug("Ignoring unreadable media timestamp %r", value)
            return None
    if parsed.tzinfo is None:
        return None
    return parsed


def _media_type(
    value: Any, media_id: str, thumbnail_url: str | None, children: tuple[MediaItem, ...]
) -> MediaType:
    known = _KNOWN_MEDIA_TYPES.get(value.upper()) if isinstance(value, str) else None
    if known is not None:
        return known

    # A type this client does not know (or none) is inferred from the shape, because only
    # carousels have children and only videos have a thumbnail. Callers then send it as one
    # of the known kinds instead of dropping the post.
    if children:
        inferred = MediaType.CAROUSEL_ALBUM
    elif thumbnail_url:
        inferred = MediaType.VIDEO
    else:
        inferred = MediaType.IMAGE
    logger.debug(
        "Media %s has unknown media_type %r; treating it as %s", media_id, value, inferred
    )
    return inferred


def _object(value: Any, subject: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InstagramError(f"Unexpected {subject} from Instagram: expected a JSON object")
    return value


def _required_text(data: Mapping[str, Any], name: str, subject: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InstagramError(f"Unexpected {subject} from Instagram: `{name}` is missing")
    return value


def _identifier(value: Any, name: str, subject: str) -> str:
    # Ids can exceed 2**53; Python's json keeps big integers exact, so str() is lossless.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise InstagramError(f"Unexpected {subject} from Instagram: `{name}` is missing")


def _permissions(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list):
        parts = [part for part in value if isinstance(part, str)]
    else:
        return ()
    return tuple(part.strip() for part in parts if part.strip())


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _optional_integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
