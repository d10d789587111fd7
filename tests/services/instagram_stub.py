"""An in-memory stand-in for `InstagramClient` with the media calls that services use."""

from __future__ import annotations

import base64
import io
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aiohttp import web
from PIL import Image

from bot.instagram import InstagramError, InvalidTokenError, MediaItem, MediaPage, MediaType

BASE_TIME = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
MEDIA_HOST = "http://127.0.0.1:9"


def make_cursor(index: int) -> str:
    """Return an opaque cursor as long as Instagram's, which exceed 64 bytes."""
    raw = f"fake-cursor-{index:06d}-".encode() * 4
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def image(
    media_id: str, *, caption: str | None = None, minutes: int = 0, host: str = MEDIA_HOST
) -> MediaItem:
    """Return a single image post."""
    return MediaItem(
        id=media_id,
        media_type=MediaType.IMAGE,
        media_url=f"{host}/media/{media_id}.jpg",
        permalink=f"https://www.instagram.com/p/P{media_id}/",
        timestamp=BASE_TIME + timedelta(minutes=minutes),
        caption=caption,
        username="fake.user",
    )


def video(media_id: str, *, minutes: int = 0, host: str = MEDIA_HOST) -> MediaItem:
    """Return a single video post with its thumbnail."""
    return MediaItem(
        id=media_id,
        media_type=MediaType.VIDEO,
        media_url=f"{host}/media/{media_id}.mp4",
        thumbnail_url=f"{host}/media/{media_id}-thumb.jpg",
        permalink=f"https://www.instagram.com/p/P{media_id}/",
        timestamp=BASE_TIME + timedelta(minutes=minutes),
        username="fake.user",
    )


def carousel(media_id: str, children: list[MediaItem], *, minutes: int = 0) -> MediaItem:
    """Return a carousel post with its children inline."""
    return MediaItem(
        id=media_id,
        media_type=MediaType.CAROUSEL_ALBUM,
        permalink=f"https://www.instagram.com/p/P{media_id}/",
        timestamp=BASE_TIME + timedelta(minutes=minutes),
        caption=f"carousel {media_id}",
        username="fake.user",
        children=tuple(children),
    )


class StubInstagram:
    """Serve `posts` (newest first) to the tokens in `tokens`, counting every request.

    `error` is raised by the next request when set. With `inline_children` off, carousels
    come without children, as the API does for some accounts, and `children` serves them.
    """

    def __init__(self, tokens: dict[str, list[MediaItem]] | None = None) -> None:
        self.tokens: dict[str, list[MediaItem]] = tokens or {}
        self.requests: Counter[str] = Counter()
        self.error: InstagramError | None = None
        self.inline_children = True

    def _posts(self, token: str) -> list[MediaItem]:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        if token not in self.tokens:
            raise InvalidTokenError("Error validating access token", status=400, code=190)
        return self.tokens[token]

    async def media_page(self, token: str, after: str | None = None, limit: int = 25) -> MediaPage:
        """Return one page of posts after the cursor."""
        self.requests["media_page"] += 1
        posts = self._posts(token)
        start = 0
        if after is not None:
            matches = [i for i in range(len(posts) + 1) if make_cursor(i) == after]
            if not matches:
                raise InstagramError("Invalid cursor", status=400, code=100)
            start = matches[0]
        items = posts[start : start + limit]
        end = start + len(items)
        if not self.inline_children:
            items = [replace(item, children=()) for item in items]
        return MediaPage(
            items=tuple(items),
            before=make_cursor(start) if items else None,
            after=make_cursor(end) if items else None,
            has_next=end < len(posts),
        )

    async def children(self, token: str, media_id: str) -> tuple[MediaItem, ...]:
        """Return the children of a carousel."""
        self.requests["children"] += 1
        for post in self._posts(token):
            if post.id == media_id:
                return post.children
        raise InstagramError("Unsupported get request", status=400, code=100)

    async def media(self, token: str, media_id: str) -> MediaItem:
        """Return one post or child by id with a fresh URL."""
        self.requests["media"] += 1
        for post in self._posts(token):
            for item in (post, *post.children):
                if item.id == media_id:
                    return replace(item, media_url=f"{MEDIA_HOST}/fresh/{media_id}.jpg")
        raise InstagramError("Unsupported get request", status=400, code=100)


VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 600
BIG_VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000


def jpeg_bytes() -> bytes:
    """Return a small JPEG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


class MediaHost:
    """A loopback stand-in for Instagram's CDN that counts every request.

    `/expired/...` answers 403 like an expired signed URL; names starting with `big` are
    videos larger than the test upload limit.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._jpeg = jpeg_bytes()

    async def _serve(self, request: web.Request) -> web.Response:
        path = request.path
        self.hits[path] += 1
        if path.startswith("/expired/"):
            return web.Response(status=403, text="URL signature expired")
        name = request.match_info["name"]
        if name.endswith(".jpg"):
            return web.Response(body=self._jpeg, content_type="image/jpeg")
        body = BIG_VIDEO_BYTES if name.startswith("big") else VIDEO_BYTES
        return web.Response(body=body, content_type="video/mp4")

    async def start(self) -> None:
        """Serve on a free loopback port."""
        app = web.Application()
        app.router.add_get("/{folder}/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    def downloads(self) -> int:
        """Return the number of requests served."""
        return sum(self.hits.values())
