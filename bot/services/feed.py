"""Browse a connected account's posts: `/media` pages, `/latest` photos and inline results."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

from bot.clock import Clock, utc_now
from bot.instagram import (
    InstagramClient,
    InstagramError,
    InvalidTokenError,
    MediaItem,
    MediaPage,
    RateLimitError,
)
from bot.services.albums import (
    Album,
    MediaFile,
    UrlRefresher,
    build_albums,
    needs_children,
    photo_files,
)
from storage import Account, AccountStatus, Storage

__all__ = [
    "FeedPage",
    "FeedService",
    "FeedStatus",
    "InlinePhoto",
    "InlinePhotos",
    "LatestPhotos",
    "UrlRefresher",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Posts per `/media` page: up to ten posts, so at most ten albums even if all are carousels.
MEDIA_PAGE_SIZE = 10
# Posts fetched per inline page; Telegram shows at most 50 results per answer.
INLINE_PAGE_SIZE = 25
MAX_INLINE_RESULTS = 50
# `/latest` reads at most this many Instagram pages to collect its photos.
LATEST_MAX_PAGES = 3


class FeedStatus(StrEnum):
    """Outcome of a feed request; every value except OK has its own message to the user."""

    OK = "ok"
    NOT_CONNECTED = "not_connected"
    NEEDS_RECONNECT = "needs_reconnect"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    EMPTY = "empty"
    END = "end"
    STALE = "stale"
    FOREIGN = "foreign"


async def _no_refresh(file: MediaFile) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One `/media` page: its albums, the posts left out, and where the buttons lead.

    `page` is the index within the browsing session `session_id`; page 0 is the newest.
    """

    status: FeedStatus
    albums: tuple[Album, ...] = ()
    skipped: tuple[MediaItem, ...] = ()
    session_id: str | None = None
    page: int = 0
    has_older: bool = False
    has_newer: bool = False
    username: str | None = None
    retry_after: float | None = None
    refresh_url: UrlRefresher = field(default=_no_refresh, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class LatestPhotos:
    """The newest photos for `/latest`, newest first."""

    status: FeedStatus
    photos: tuple[MediaFile, ...] = ()
    retry_after: float | None = None
    refresh_url: UrlRefresher = field(default=_no_refresh, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class InlinePhoto:
    """A photo for an inline result, with its cached Telegram file_id when there is one."""

    file: MediaFile
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class InlinePhotos:
    """One page of inline results; `next_offset` is empty on the last page."""

    status: FeedStatus
    photos: tuple[InlinePhoto, ...] = ()
    next_offset: str = ""


class _FeedError(Exception):
    """An account or Instagram problem that ends a feed request with `status`."""

    def __init__(self, status: FeedStatus, retry_after: float | None = None) -> None:
        super().__init__(status.value)
        self.status = status
        self.retry_after = retry_after


class FeedService:
    """Read a user's posts from Instagram and turn them into albums and photos."""

    def __init__(
        self,
        *,
        storage: Storage,
        instagram: InstagramClient,
        clock: Clock = utc_now,
        page_size: int = MEDIA_PAGE_SIZE,
        inline_page_size: int = INLINE_PAGE_SIZE,
    ) -> None:
        self._storage = storage
        self._instagram = instagram
        self._clock = clock
        self._page_size = page_size
        self._inline_page_size = inline_page_size

    # `/media`

    async def page(
        self, telegram_user_id: int, session_id: str | None = None, page: int = 0
    ) -> FeedPage:
        """Fetch one `/media` page as albums.

        Without `session_id` a new browsing session starts at the newest posts. With it, the
        session must belong to this user (else FOREIGN) and to their current account, and
        the page must be one the session has reached, with its cursor stored (else STALE).
        """
        found = None
        if session_id is not None:
            found = await self._storage.get_browsing_session(session_id)
            if found is None:
                return FeedPage(status=FeedStatus.STALE)
            if found.telegram_user_id != telegram_user_id:
                return FeedPage(status=FeedStatus.FOREIGN)
        try:
            account, token = await self._connected_account(telegram_user_id)
            if found is None:
                page = 0
                known_cursors: tuple[str | None, ...] = (None,)
            elif found.account_id != account.id or not 0 <= page < len(found.cursors):
                return FeedPage(status=FeedStatus.STALE)
            else:
                known_cursors = found.cursors

            media_page = await self._fetch_page(account, token, known_cursors[page])
            cursors = list(known_cursors[: page + 1])
            if media_page.has_next and media_page.after:
                cursors.append(media_page.after)
            # A new session is stored once its cursors are known, in one write.
            if found is None:
                session = await self._storage.create_browsing_session(
                    telegram_user_id=telegram_user_id,
                    account_id=account.id,
                    now=self._clock(),
                    cursors=tuple(cursors),
                )
            else:
                session = found
                await self._storage.update_browsing_session(
                    session.id, cursors=tuple(cursors), page=page, now=self._clock()
                )
            posts = await self._with_children(account, token, media_page.items)
        except _FeedError as exc:
            return FeedPage(status=exc.status, retry_after=exc.retry_after)

        if not posts:
            status = FeedStatus.EMPTY if page == 0 else FeedStatus.END
            return FeedPage(status=status, session_id=session.id, page=page, has_newer=page > 0)
        plan = build_albums(posts, account.instagram_user_id)
        return FeedPage(
            status=FeedStatus.OK,
            albums=plan.albums,
            skipped=plan.skipped,
            session_id=session.id,
            page=page,
            has_older=len(cursors) > page + 1,
            has_newer=page > 0,
            username=account.username,
            refresh_url=self._url_refresher(account, token),
        )

    # `/latest`

    async def latest_photos(self, telegram_user_id: int, count: int) -> LatestPhotos:
        """Collect the `count` newest photos: single images and image children of carousels."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        photos: list[MediaFile] = []
        try:
            account, token = await self._connected_account(telegram_user_id)
            after: str | None = None
            for _ in range(LATEST_MAX_PAGES):
                media_page = await self._fetch_page(account, token, after, limit=count)
                posts = await self._with_children(account, token, media_page.items)
                photos.extend(photo_files(posts, account.instagram_user_id))
                if len(photos) >= count or not (media_page.has_next and media_page.after):
                    break
                after = media_page.after
        except _FeedError as exc:
            return LatestPhotos(status=exc.status, retry_after=exc.retry_after)

        if not photos:
            return LatestPhotos(status=FeedStatus.EMPTY)
        return LatestPhotos(
            status=FeedStatus.OK,
            photos=tuple(photos[:count]),
            refresh_url=self._url_refresher(account, token),
        )

    # Inline mode

    async def inline_photos(self, telegram_user_id: int, offset: str = "") -> InlinePhotos:
        """Fetch one page of photos for inline mode.

        Instagram cursors can be longer than the 64 bytes Telegram allows in `next_offset`,
        so the offset is `<session_id>:<page>:<index>` and points at a browsing session
        that stores the cursors. `index` is the first photo of that page still to show,
        because a page of carousels can hold more than 50 photos. An offset that cannot be
        parsed or belongs to someone else gives STALE.
        """
        try:
            account, token = await self._connected_account(telegram_user_id)
            if offset:
                position = await self._inline_position(telegram_user_id, account, offset)
                if position is None:
                    return InlinePhotos(status=FeedStatus.STALE)
                session_id, cursors, page, start = position
            else:
                session_id, cursors, page, start = None, (None,), 0, 0

            media_page = await self._fetch_page(
                account, token, cursors[page], limit=self._inline_page_size
            )
            posts = await self._with_children(account, token, media_page.items)
        except _FeedError as exc:
            return InlinePhotos(status=exc.status)

        photos = photo_files(posts, account.instagram_user_id)
        shown = photos[start : start + MAX_INLINE_RESULTS]
        if not shown and page == 0 and start == 0:
            return InlinePhotos(status=FeedStatus.EMPTY)

        next_offset = ""
        has_next_page = media_page.has_next and bool(media_page.after)
        if start + MAX_INLINE_RESULTS < len(photos) or has_next_page:
            if session_id is None:
                session = await self._storage.create_browsing_session(
                    telegram_user_id=telegram_user_id, account_id=account.id, now=self._clock()
                )
                session_id = session.id
            if start + MAX_INLINE_RESULTS < len(photos):
                next_offset = f"{session_id}:{page}:{start + MAX_INLINE_RESULTS}"
            else:
                new_cursors = (*cursors[: page + 1], media_page.after)
                await self._storage.update_browsing_session(
                    session_id, cursors=new_cursors, page=page + 1, now=self._clock()
                )
                next_offset = f"{session_id}:{page + 1}:0"

        file_ids = await self._storage.get_cached_file_ids(
            [(photo.media_id, photo.kind.value) for photo in shown]
        )
        results = [
            InlinePhoto(file=photo, file_id=file_ids.get((photo.media_id, photo.kind.value)))
            for photo in shown
        ]
        return InlinePhotos(status=FeedStatus.OK, photos=tuple(results), next_offset=next_offset)

    async def _inline_position(
        self, telegram_user_id: int, account: Account, offset: str
    ) -> tuple[str, tuple[str | None, ...], int, int] | None:
        parts = offset.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        session_id, page, start = parts[0], int(parts[1]), int(parts[2])
        session = await self._storage.get_browsing_session(session_id)
        if (
            session is None
            or session.telegram_user_id != telegram_user_id
            or session.account_id != account.id
            or page >= len(session.cursors)
        ):
            return None
        return session_id, session.cursors, page, start

    # Shared steps

    async def _connected_account(self, telegram_user_id: int) -> tuple[Account, str]:
        account = await self._storage.get_account_for_user(telegram_user_id)
        if account is None or account.status is AccountStatus.DISCONNECTED:
            raise _FeedError(FeedStatus.NOT_CONNECTED)
        if account.status is AccountStatus.NEEDS_RECONNECT or not account.access_token:
            raise _FeedError(FeedStatus.NEEDS_RECONNECT)
        return account, account.access_token

    async def _fetch_page(
        self, account: Account, token: str, after: str | None, *, limit: int | None = None
    ) -> MediaPage:
        return await self._call_instagram(
            account, self._instagram.media_page(token, after=after, limit=limit or self._page_size)
        )

    async def _with_children(
        self, account: Account, token: str, posts: Sequence[MediaItem]
    ) -> list[MediaItem]:
        """Return the posts with the children of every carousel that lacked them fetched."""
        bare = [post for post in posts if needs_children(post)]
        if not bare:
            return list(posts)
        # Every request finishes before the first failure is raised, so none is left running.
        results = await asyncio.gather(
            *(
                self._call_instagram(account, self._instagram.children(token, post.id))
                for post in bare
            ),
            return_exceptions=True,
        )
        children_by_id: dict[str, tuple[MediaItem, ...]] = {}
        for post, result in zip(bare, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            children_by_id[post.id] = result
        return [
            replace(post, children=children_by_id[post.id]) if post.id in children_by_id else post
            for post in posts
        ]

    async def _call_instagram(self, account: Account, call: Awaitable[_T]) -> _T:
        """Await an Instagram call and turn its errors into feed outcomes."""
        try:
            return await call
        except InvalidTokenError as exc:
            changed = await self._storage.mark_needs_reconnect(
                account.id, error=str(exc), now=self._clock()
            )
            if changed:
                logger.info(
                    "Account %s needs reconnecting: Instagram rejected its token", account.id
                )
            raise _FeedError(FeedStatus.NEEDS_RECONNECT) from exc
        except RateLimitError as exc:
            logger.warning("Instagram rate limit for account %s: %s", account.id, exc)
            raise _FeedError(FeedStatus.RATE_LIMITED, exc.retry_after) from exc
        except InstagramError as exc:
            logger.warning("Instagram request for account %s failed: %s", account.id, exc)
            raise _FeedError(FeedStatus.UNAVAILABLE) from exc

    def _url_refresher(self, account: Account, token: str) -> UrlRefresher:
        async def refresh_url(file: MediaFile) -> str | None:
            try:
                item = await self._instagram.media(token, file.media_id)
            except InstagramError as exc:
                logger.warning(
                    "Fetching a fresh URL for media %s of account %s failed: %s",
                    file.media_id,
                    account.id,
                    exc,
                )
                return None
            return item.media_url

        return refresh_url
