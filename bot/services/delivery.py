"""Send photos, videos and albums to Telegram chats.

Each media item goes by cached `file_id` when one is known, else by its Instagram URL.
When Telegram cannot fetch the URL, the bot downloads the file itself, within size and time
bounds, and uploads it. After a successful send, the `file_id` of every item is cached, so
the next send of the same item costs no download or upload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

import httpx
from telegram import (
    Bot,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
)

from bot.clock import Clock, utc_now
from bot.services.albums import MAX_ALBUM_SIZE, MediaFile, MediaKind, UrlRefresher
from bot.services.pacing import SendGovernor, retry_after_seconds
from storage import Storage

__all__ = [
    "DeliveryResult",
    "DeliveryService",
    "DeliveryStatus",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Bot API upload limits: 10 MB for photos, 50 MB for other files.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_VIDEO_BYTES = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60.0

# Fragments of the BadRequest descriptions Telegram uses when it cannot use a media
# source: an unreachable or unsuitable URL, or a file_id it does not know.
_MEDIA_SOURCE_ERRORS = (
    "failed to get http url content",
    "wrong file identifier/http url specified",
    "wrong type of the web page content",
    "wrong remote file identifier",
    "webpage_curl_failed",
    "webpage_media_empty",
    "type of file mismatch",
)
_TOO_LARGE_ERRORS = ("file is too big", "request entity too large", "too big")
_CHAT_GONE_REASON = "bot removed or blocked"
_CHAT_GONE_ERRORS = ("chat not found", "group chat was deactivated", "peer_id_invalid")


class DeliveryStatus(StrEnum):
    """Outcome of sending to one chat."""

    SENT = "sent"
    CHAT_GONE = "chat_gone"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """Result of a send: the status, the chat id after any migration, and the files left
    out because they exceed the upload limit."""

    status: DeliveryStatus
    chat_id: int
    sent: int = 0
    too_large: tuple[MediaFile, ...] = ()
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the message reached the chat, possibly without oversized files."""
        return self.status is DeliveryStatus.SENT


class _MediaRejected(Exception):
    """Telegram could not use a file_id or URL of the request."""


class _TooLarge(Exception):
    """A file exceeds the upload limit."""


class _SendFailed(Exception):
    """The send failed for a reason that another attempt would not fix."""

    def __init__(self, status: DeliveryStatus, retry_after: float | None = None) -> None:
        super().__init__(status.value)
        self.status = status
        self.retry_after = retry_after


class _UrlExpired(Exception):
    """Instagram's CDN rejected a signed URL that expired."""


def _file_id_of(message: Message, kind: MediaKind) -> str | None:
    if kind is MediaKind.PHOTO and message.photo:
        largest = max(
            message.photo, key=lambda size: (size.width * size.height, size.file_size or 0)
        )
        return largest.file_id
    if kind is MediaKind.VIDEO and message.video:
        return message.video.file_id
    return None


def _described_as(exc: TelegramError, fragments: Sequence[str]) -> bool:
    description = exc.message.lower()
    return any(fragment in description for fragment in fragments)


class DeliveryService:
    """Send media to chats with a file_id cache, an upload fallback and flood control.

    With a `governor`, each send first waits for room in Telegram's flood limits. Without
    one, the pacing is left to the bot's rate limiter, such as the `GovernorRateLimiter`
    that the application installs. A `RetryAfter` that reaches this service is honoured
    either way.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        storage: Storage,
        http_client: httpx.AsyncClient,
        clock: Clock = utc_now,
        governor: SendGovernor | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_attempts: int = 3,
        max_retry_after: float = 60.0,
        download_timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
        max_photo_bytes: int = MAX_PHOTO_BYTES,
        max_video_bytes: int = MAX_VIDEO_BYTES,
    ) -> None:
        self._bot = bot
        self._storage = storage
        self._http = http_client
        self._clock = clock
        self._governor = governor
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._max_retry_after = max_retry_after
        self._download_timeout = download_timeout
        self._max_photo_bytes = max_photo_bytes
        self._max_video_bytes = max_video_bytes

    # Public API

    async def send_album(
        self,
        chat_id: int,
        album: Sequence[MediaFile],
        *,
        refresh_url: UrlRefresher | None = None,
    ) -> DeliveryResult:
        """Send 1 to 10 files as one album, or as a single photo or video.

        Sources are tried in order: cached file_ids with URLs for the rest, then URLs only
        (after forgetting the file_ids, which may be the rejected part), then downloaded
        files. `refresh_url` fetches a new URL when a download finds the old one expired.
        """
        files = list(album)
        if not files:
            return DeliveryResult(DeliveryStatus.SENT, chat_id)
        if len(files) > MAX_ALBUM_SIZE:
            raise ValueError(f"an album contains at most {MAX_ALBUM_SIZE} files, got {len(files)}")

        target = _Target(chat_id)
        if self._governor is not None:
            await self._governor.acquire(chat_id, len(files))
        try:
            sent, too_large = await self._send_with_fallbacks(target, files, refresh_url)
        except _SendFailed as exc:
            if exc.status is DeliveryStatus.CHAT_GONE:
                await self._storage.deactivate_chat(target.chat_id, reason=_CHAT_GONE_REASON)
            return DeliveryResult(exc.status, target.chat_id, retry_after=exc.retry_after)

        status = DeliveryStatus.SENT if sent else DeliveryStatus.TOO_LARGE
        return DeliveryResult(status, target.chat_id, sent=sent, too_large=tuple(too_large))

    async def send_text(self, chat_id: int, text: str) -> DeliveryResult:
        """Send an HTML text message, such as a note about a post that could not be sent."""
        target = _Target(chat_id)
        if self._governor is not None:
            await self._governor.acquire(chat_id, 1)
        try:
            await self._call(
                target,
                lambda chat: self._bot.send_message(
                    chat,
                    text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                ),
            )
        except _SendFailed as exc:
            if exc.status is DeliveryStatus.CHAT_GONE:
                await self._storage.deactivate_chat(target.chat_id, reason=_CHAT_GONE_REASON)
            return DeliveryResult(exc.status, target.chat_id, retry_after=exc.retry_after)
        return DeliveryResult(DeliveryStatus.SENT, target.chat_id, sent=1)

    # Source fallbacks

    async def _send_with_fallbacks(
        self, target: _Target, files: list[MediaFile], refresh_url: UrlRefresher | None
    ) -> tuple[int, list[MediaFile]]:
        found = await self._storage.get_cached_file_ids(
            [(file.media_id, file.kind.value) for file in files]
        )
        cached: dict[str, str] = {}
        for file in files:
            file_id = found.get((file.media_id, file.kind.value))
            if file_id:
                cached[file.media_id] = file_id

        sources: list[str | InputFile] = [
            cached.get(file.media_id, file.media_url) for file in files
        ]
        try:
            messages = await self._send_sources(target, files, sources)
        except _MediaRejected:
            logger.info(
                "Chat %s: Telegram rejected a media source; trying fallbacks", target.chat_id
            )
        else:
            await self._cache_file_ids(files, messages, cached)
            return len(files), []

        if cached:
            for file in files:
                if file.media_id in cached:
                    await self._storage.forget_file_id(file.media_id, file.kind.value)
            cached = {}
            try:
                messages = await self._send_sources(
                    target, files, [file.media_url for file in files]
                )
            except _MediaRejected:
                logger.info("Chat %s: Telegram could not fetch the media URLs", target.chat_id)
            else:
                await self._cache_file_ids(files, messages, cached)
                return len(files), []

        return await self._send_uploads(target, files, refresh_url)

    async def _send_uploads(
        self, target: _Target, files: list[MediaFile], refresh_url: UrlRefresher | None
    ) -> tuple[int, list[MediaFile]]:
        kept: list[MediaFile] = []
        uploads: list[str | InputFile] = []
        too_large: list[MediaFile] = []
        for file in files:
            try:
                data = await self._download(file, refresh_url)
            except _TooLarge:
                too_large.append(file)
                continue
            kept.append(file)
            uploads.append(InputFile(data, filename=_upload_name(file), attach=True))

        if too_large:
            logger.info(
                "Chat %s: %d file(s) exceed the upload limit: %s",
                target.chat_id,
                len(too_large),
                ", ".join(file.media_id for file in too_large),
            )
            kept = _move_captions(files, kept)
        if not kept:
            return 0, too_large

        try:
            messages = await self._send_sources(target, kept, uploads)
        except _MediaRejected as exc:
            logger.warning("Chat %s: Telegram rejected the uploaded media", target.chat_id)
            raise _SendFailed(DeliveryStatus.FAILED) from exc
        await self._cache_file_ids(kept, messages, {})
        return len(kept), too_large

    async def _download(self, file: MediaFile, refresh_url: UrlRefresher | None) -> bytes:
        """Download a file within its size limit, refreshing an expired URL once."""
        limit = self._max_photo_bytes if file.kind is MediaKind.PHOTO else self._max_video_bytes
        url = file.media_url
        try:
            return await self._fetch(url, limit)
        except _UrlExpired:
            fresh_url = await refresh_url(file) if refresh_url is not None else None
            if not fresh_url:
                logger.warning(
                    "Media %s: its URL expired and no fresh URL is available", file.media_id
                )
                raise _SendFailed(DeliveryStatus.FAILED) from None
        try:
            return await self._fetch(fresh_url, limit)
        except _UrlExpired:
            logger.warning("Media %s: the fresh URL was rejected too", file.media_id)
            raise _SendFailed(DeliveryStatus.FAILED) from None

    async def _fetch(self, url: str, limit: int) -> bytes:
        """Stream `url` into memory, stopping as soon as it exceeds `limit` bytes."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._download_timeout):
                async with self._http.stream("GET", url, follow_redirects=True) as response:
                    if response.status_code in (403, 410):
                        raise _UrlExpired
                    if response.status_code != 200:
                        logger.warning("Media download failed with HTTP %s", response.status_code)
                        raise _SendFailed(DeliveryStatus.FAILED)
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise _TooLarge
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise _TooLarge
                        chunks.append(chunk)
        except TimeoutError as exc:
            logger.warning("Media download timed out after %s s", self._download_timeout)
            raise _SendFailed(DeliveryStatus.FAILED) from exc
        except httpx.HTTPError as exc:
            logger.warning("Media download failed: %s", type(exc).__name__)
            raise _SendFailed(DeliveryStatus.FAILED) from exc
        return b"".join(chunks)

    # Telegram calls

    async def _send_sources(
        self, target: _Target, files: list[MediaFile], sources: list[str | InputFile]
    ) -> tuple[Message, ...]:
        if len(files) == 1:
            file, source = files[0], sources[0]
            if file.kind is MediaKind.PHOTO:
                message = await self._call(
                    target,
                    lambda chat: self._bot.send_photo(
                        chat, source, caption=file.caption, parse_mode=ParseMode.HTML
                    ),
                )
            else:
                message = await self._call(
                    target,
                    lambda chat: self._bot.send_video(
                        chat,
                        source,
                        caption=file.caption,
                        parse_mode=ParseMode.HTML,
                        cover=_cover(file, source),
                        supports_streaming=True,
                    ),
                )
            return (message,)

        media = [_input_media(file, source) for file, source in zip(files, sources, strict=True)]
        return await self._call(target, lambda chat: self._bot.send_media_group(chat, media))

    async def _call(self, target: _Target, request: Callable[[int], Awaitable[_T]]) -> _T:
        """Run one Bot API request, honouring RetryAfter and following a group migration."""
        for _ in range(self._max_attempts):
            try:
                return await request(target.chat_id)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if wait > self._max_retry_after:
                    logger.warning(
                        "Chat %s: flood control asks to wait %s s; giving up", target.chat_id, wait
                    )
                    raise _SendFailed(DeliveryStatus.RATE_LIMITED, wait) from exc
                logger.info("Chat %s: flood control, retrying in %s s", target.chat_id, wait)
                await self._sleep(wait)
            except ChatMigrated as exc:
                logger.info("Chat %s migrated to %s", target.chat_id, exc.new_chat_id)
                await self._storage.migrate_chat(target.chat_id, exc.new_chat_id)
                target.chat_id = exc.new_chat_id
            except Forbidden as exc:
                logger.info("Chat %s removed or blocked the bot: %s", target.chat_id, exc.message)
                raise _SendFailed(DeliveryStatus.CHAT_GONE) from exc
            except BadRequest as exc:
                if _described_as(exc, _MEDIA_SOURCE_ERRORS):
                    raise _MediaRejected from exc
                if _described_as(exc, _TOO_LARGE_ERRORS):
                    raise _SendFailed(DeliveryStatus.TOO_LARGE) from exc
                if _described_as(exc, _CHAT_GONE_ERRORS):
                    logger.info("Chat %s no longer exists: %s", target.chat_id, exc.message)
                    raise _SendFailed(DeliveryStatus.CHAT_GONE) from exc
                logger.warning(
                    "Chat %s: Telegram rejected the request: %s", target.chat_id, exc.message
                )
                raise _SendFailed(DeliveryStatus.FAILED) from exc
            except TelegramError as exc:
                # Network errors and timeouts are not retried: the message may have arrived.
                logger.warning(
                    "Chat %s: sending failed: %s: %s", target.chat_id, type(exc).__name__, exc
                )
                raise _SendFailed(DeliveryStatus.FAILED) from exc
        logger.warning(
            "Chat %s: still rate limited after %d attempts", target.chat_id, self._max_attempts
        )
        raise _SendFailed(DeliveryStatus.RATE_LIMITED)

    async def _cache_file_ids(
        self, files: list[MediaFile], messages: Sequence[Message], cached: dict[str, str]
    ) -> None:
        now = self._clock()
        for file, message in zip(files, messages, strict=False):
            file_id = _file_id_of(message, file.kind)
            if file_id is None or cached.get(file.media_id) == file_id:
                continue
            await self._storage.cache_file_id(
                media_id=file.media_id,
                kind=file.kind.value,
                file_id=file_id,
                instagram_user_id=file.owner_id,
                now=now,
            )


@dataclass(slots=True)
class _Target:
    """The chat a send goes to; a group migration changes it during the send."""

    chat_id: int


def _upload_name(file: MediaFile) -> str:
    return f"{file.media_id}.jpg" if file.kind is MediaKind.PHOTO else f"{file.media_id}.mp4"


def _cover(file: MediaFile, source: str | InputFile) -> str | None:
    # A cover URL is only useful while Telegram fetches URLs; uploads go without one.
    if isinstance(source, InputFile):
        return None
    return file.thumbnail_url


def _input_media(file: MediaFile, source: str | InputFile) -> InputMediaPhoto | InputMediaVideo:
    if file.kind is MediaKind.PHOTO:
        return InputMediaPhoto(source, caption=file.caption, parse_mode=ParseMode.HTML)
    return InputMediaVideo(
        source,
        caption=file.caption,
        parse_mode=ParseMode.HTML,
        cover=_cover(file, source),
        supports_streaming=True,
    )


def _move_captions(files: list[MediaFile], kept: list[MediaFile]) -> list[MediaFile]:
    """Give a post's caption to its first kept file when the captioned file was dropped."""
    kept_ids = {file.media_id for file in kept}
    captions = {
        file.post_id: file.caption
        for file in files
        if file.caption and file.media_id not in kept_ids
    }
    result: list[MediaFile] = []
    for file in kept:
        caption = captions.pop(file.post_id, None)
        result.append(replace(file, caption=caption) if caption and not file.caption else file)
    return result
