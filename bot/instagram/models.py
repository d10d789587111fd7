"""Typed, immutable results of the Instagram client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["LongLivedToken", "MediaItem", "MediaPage", "MediaType", "Profile", "ShortLivedToken"]


class MediaType(StrEnum):
    """Values of the `media_type` field."""

    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    CAROUSEL_ALBUM = "CAROUSEL_ALBUM"


@dataclass(frozen=True, slots=True)
class ShortLivedToken:
    """Result of the code exchange: valid for about one hour."""

    access_token: str = field(repr=False)
    user_id: str
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LongLivedToken:
    """A 60-day token with its absolute expiry, from the exchange or a refresh."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    issued_at: datetime
    expires_at: datetime
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """The connected user's profile; `user_id` is always a string."""

    user_id: str
    username: str
    account_type: str | None = None
    name: str | None = None
    profile_picture_url: str | None = None
    media_count: int | None = None


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One post, or one child of a carousel.

    `media_url` is a signed CDN URL that expires; it must not be stored as lasting data.
    """

    id: str
    media_type: MediaType
    media_url: str | None = None
    permalink: str | None = None
    thumbnail_url: str | None = None
    timestamp: datetime | None = None
    caption: str | None = None
    username: str | None = None
    children: tuple[MediaItem, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaPage:
    """One page of `/me/media`, newest first."""

    items: tuple[MediaItem, ...]
    before: str | None = None
    after: str | None = None
    has_next: bool = False
