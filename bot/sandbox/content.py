"""Deterministic accounts and posts that the sandbox serves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = [
    "MAX_CAROUSEL_CHILDREN",
    "SandboxAccount",
    "SandboxMedia",
    "SandboxMediaType",
    "TokenShape",
    "build_accounts",
]

# Instagram allows at most 10 items in one carousel.
MAX_CAROUSEL_CHILDREN = 10

# Media ids look like real ones (17 digits) and never collide between accounts or posts:
# post ids step by 100 and carousel children take the ids in between.
_MEDIA_ID_BASE = 17_900_000_000_000_000
_ACCOUNT_ID_STEP = 1_000_000
_POST_ID_STEP = 100

_NEWEST_DEMO_POST = datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)


class SandboxMediaType(StrEnum):
    """Values of `media_type`, as the Graph API spells them."""

    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    CAROUSEL_ALBUM = "CAROUSEL_ALBUM"


class TokenShape(StrEnum):
    """Shape of the code exchange response for one account."""

    # {"access_token", "user_id", "permissions": "a,b"}
    FLAT = "flat"
    # {"data": [{"access_token", "user_id", "permissions": ["a", "b"]}]}
    WRAPPED = "wrapped"


@dataclass(slots=True)
class SandboxMedia:
    """One post or one carousel child. Only a carousel has `children`."""

    id: str
    number: int
    media_type: SandboxMediaType
    timestamp: datetime
    username: str
    caption: str | None = None
    # False for the copyrighted-audio case, where the API omits `media_url`.
    has_media_url: bool = True
    children: list[SandboxMedia] = field(default_factory=list)
    parent_id: str | None = None

    @property
    def shortcode(self) -> str:
        """Short code used in the permalink, derived from the id."""
        digest = hashlib.sha256(self.id.encode()).digest()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        return "C" + "".join(alphabet[byte % len(alphabet)] for byte in digest[:10])


@dataclass(slots=True)
class SandboxAccount:
    """One Instagram account of the sandbox, with its posts newest first."""

    user_id: int
    username: str
    name: str
    # `account_type` differs in case between the flavors.
    account_type_login: str
    account_type_basic: str
    token_shape: TokenShape
    user_id_as_string: bool
    index: int
    posts: list[SandboxMedia] = field(default_factory=list)
    next_post_number: int = 1

    @property
    def id(self) -> str:
        """The user id as the string form callers compare against."""
        return str(self.user_id)

    def new_post_id(self, number: int) -> str:
        """Return the media id of post `number` of this account."""
        return str(_MEDIA_ID_BASE + self.index * _ACCOUNT_ID_STEP + number * _POST_ID_STEP)

    def add_post(
        self,
        media_type: SandboxMediaType,
        timestamp: datetime,
        *,
        caption: str | None = None,
        has_media_url: bool = True,
        child_types: tuple[SandboxMediaType, ...] = (),
    ) -> SandboxMedia:
        """Create the next post of this account and put it first (newest)."""
        if media_type is SandboxMediaType.CAROUSEL_ALBUM:
            if not 2 <= len(child_types) <= MAX_CAROUSEL_CHILDREN:
                raise ValueError(
                    f"a carousel needs 2 to {MAX_CAROUSEL_CHILDREN} children, "
                    f"got {len(child_types)}"
                )
            if SandboxMediaType.CAROUSEL_ALBUM in child_types:
                raise ValueError("a carousel child cannot be a carousel")
        elif child_types:
            raise ValueError(f"a {media_type} post cannot have children")

        number = self.next_post_number
        self.next_post_number += 1
        post = SandboxMedia(
            id=self.new_post_id(number),
            number=number,
            media_type=media_type,
            timestamp=timestamp,
            username=self.username,
            caption=caption,
            has_media_url=has_media_url,
        )
        for child_number, child_type in enumerate(child_types, start=1):
            post.children.append(
                SandboxMedia(
                    id=str(int(post.id) + child_number),
                    number=child_number,
                    media_type=child_type,
                    timestamp=timestamp,
                    username=self.username,
                    parent_id=post.id,
                )
            )
        self.posts.insert(0, post)
        return post


_CAPTIONS = (
    "Morning light over the harbour 🌅",
    "Coffee first, then everything else ☕️",
    "Weekend hike, 14 km and worth every step 🥾⛰️",
    "New print drying on the line #darkroom #film",
    "Street corner, rainy Tuesday 🌧️",
    "Market day: figs, lemons and far too many olives 🍋🫒",
    "Testing the new lens. Thoughts? 📸",
    "Throwback to the summer trip ✈️ #tbt",
    "Quiet evening on the balcony 🌆",
    "Studio shelf, freshly sorted 🗂️",
    'Caption with <b>markup</b> & "quotes" that must stay plain text',
    "Line one\nLine two\nLine three",
)

_LONG_CAPTION_SENTENCES = (
    "This is a long caption that keeps going so that clients have to cut it safely 📝.",
    "Emoji outside the basic plane take two UTF-16 units each: 🌊🏄‍♀️🐙🦑.",
    "A flag and a family count even more: 🇳🇱 👨‍👩‍👧‍👦 👩🏽‍💻.",
    "Accents and other scripts too: café, naïve, Ελληνικά, 日本語, русский.",
)


def _long_caption() -> str:
    """Return a caption of more than 2,200 characters, Instagram's own caption limit."""
    parts: list[str] = []
    index = 0
    while sum(len(part) + 1 for part in parts) <= 2300:
        parts.append(_LONG_CAPTION_SENTENCES[index % len(_LONG_CAPTION_SENTENCES)])
        index += 1
    return " ".join(parts) + " #longread #emoji"


def _demo_timestamps(count: int) -> list[datetime]:
    """Return `count` timestamps, oldest first, ending at the newest demo post."""
    timestamps = [_NEWEST_DEMO_POST]
    for step in range(1, count):
        # Gaps of 5 to 52 hours plus minutes and seconds make the timestamps irregular.
        gap = timedelta(hours=5 + (step * 7919) % 48, minutes=(step * 37) % 60, seconds=step % 60)
        timestamps.append(timestamps[-1] - gap)
    return list(reversed(timestamps))


_DEMO_POST_COUNT = 64
_IMAGE = SandboxMediaType.IMAGE
_VIDEO = SandboxMediaType.VIDEO
_CAROUSEL = SandboxMediaType.CAROUSEL_ALBUM


def _fill_demo_account(account: SandboxAccount) -> None:
    """Add the demo posts, oldest first, so the special cases land on the first page."""
    timestamps = _demo_timestamps(_DEMO_POST_COUNT)
    for number, timestamp in enumerate(timestamps, start=1):
        caption: str | None = _CAPTIONS[number % len(_CAPTIONS)]
        if number == 63:
            child_types: tuple[SandboxMediaType, ...] = (
                _IMAGE,
                _IMAGE,
                _IMAGE,
                _VIDEO,
                _IMAGE,
            ) * 2
            account.add_post(
                _CAROUSEL, timestamp, caption="Ten from the trip 🧳", child_types=child_types
            )
        elif number == 62:
            account.add_post(_IMAGE, timestamp, caption=_long_caption())
        elif number == 59:
            # A reel with copyrighted audio: the API returns no media_url for it.
            account.add_post(
                _VIDEO,
                timestamp,
                caption="Dancing to a song we may not share 🎵",
                has_media_url=False,
            )
        elif number % 9 == 0:
            child_types = (_IMAGE, _VIDEO, _IMAGE) if number % 2 else (_IMAGE, _IMAGE)
            account.add_post(_CAROUSEL, timestamp, caption=caption, child_types=child_types)
        elif number % 7 == 0 or number == 61:
            account.add_post(_VIDEO, timestamp, caption=caption)
        elif number % 5 == 0:
            account.add_post(_IMAGE, timestamp)
        else:
            account.add_post(_IMAGE, timestamp, caption=caption)


def _fill_personal_account(account: SandboxAccount) -> None:
    """Add a handful of plain posts, as a personal account would have."""
    timestamp = datetime(2023, 11, 20, 18, 2, 11, tzinfo=UTC)
    for step in range(6):
        account.add_post(
            _IMAGE,
            timestamp + timedelta(days=3 * step, minutes=step * 11),
            caption=f"Holiday snapshot {step + 1} 🏖️" if step % 3 else None,
        )


def build_accounts() -> list[SandboxAccount]:
    """Build the sandbox accounts and their posts, identical on every call."""
    demo = SandboxAccount(
        # Above 2**53, so a client that parses user_id as a float loses digits.
        user_id=17_841_400_000_000_001,
        username="sandbox.demo",
        name="Sandbox Demo",
        account_type_login="Business",
        account_type_basic="BUSINESS",
        token_shape=TokenShape.FLAT,
        user_id_as_string=False,
        index=1,
    )
    personal = SandboxAccount(
        user_id=4_512_345_678,
        username="sandbox.personal",
        name="Pat Personal",
        account_type_login="PERSONAL",
        account_type_basic="PERSONAL",
        token_shape=TokenShape.WRAPPED,
        user_id_as_string=False,
        index=2,
    )
    empty = SandboxAccount(
        user_id=17_841_400_000_000_003,
        username="sandbox.empty",
        name="Empty Creator",
        account_type_login="Media_Creator",
        account_type_basic="MEDIA_CREATOR",
        token_shape=TokenShape.FLAT,
        user_id_as_string=True,
        index=3,
    )
    _fill_demo_account(demo)
    _fill_personal_account(personal)
    return [demo, personal, empty]
