"""A lean fake of the Instagram Graph media endpoints, served on loopback for benchmarks.

It serves one generated feed, newest first, shaped like the real API: `/me/media` pages with
cursors and a `next` link, carousels whose children are expanded inline only when `fields`
requests `children{...}`, `/{media-id}/children`, `/{media-id}` and a small JPEG behind every
`media_url`. Paths work with and without a version prefix. Every API response waits `latency`
seconds first, to stand in for the network.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from PIL import Image

__all__ = ["FakeFeed", "FeedMedia", "parse_fields"]

# NOTE: Meta does not document the largest accepted `limit`; the fake assumes 100.
MAX_PAGE_LIMIT = 100
DEFAULT_PAGE_LIMIT = 25
_NEWEST_POST = datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)
# An MP4 `ftyp` box and nothing more: enough for a client that checks the content type.
_FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@dataclass(frozen=True, slots=True)
class FeedMedia:
    """One generated post or carousel child."""

    id: str
    media_type: str
    caption: str | None
    timestamp: datetime
    children: tuple[FeedMedia, ...] = ()


def parse_fields(raw: str) -> dict[str, dict[str, Any]]:
    """Split a Graph `fields` value into top-level names mapped to their nested fields.

    `id,children{media_type,media_url}` becomes `{"id": {}, "children": {"media_type": {},
    "media_url": {}}}`.
    """
    fields: dict[str, dict[str, Any]] = {}
    depth = 0
    start = 0
    for position, character in enumerate(raw + ","):
        if character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
        elif character == "," and depth == 0:
            part = raw[start:position].strip()
            start = position + 1
            if not part:
                continue
            if "{" in part and part.endswith("}"):
                name, nested = part.split("{", 1)
                fields[name.strip()] = parse_fields(nested[:-1])
            else:
                fields[part] = {}
    return fields


def _generate_feed(count: int, carousel_every: int) -> tuple[FeedMedia, ...]:
    items = []
    for index in range(count):
        media_id = f"1790{index:011d}"
        timestamp = _NEWEST_POST - timedelta(hours=index)
        caption = None if index % 7 == 3 else f"Bench post {index} #gramlink"
        if carousel_every and index % carousel_every == 0:
            # Children vary from 2 to 10, the API's maximum, and mix images and videos.
            child_count = 2 + index // carousel_every % 9
            children = tuple(
                FeedMedia(
                    id=f"{media_id}{child:02d}",
                    media_type="VIDEO" if child % 4 == 3 else "IMAGE",
                    caption=None,
                    timestamp=timestamp,
                )
                for child in range(child_count)
            )
            items.append(FeedMedia(media_id, "CAROUSEL_ALBUM", caption, timestamp, children))
        else:
            media_type = "VIDEO" if index % 11 == 5 else "IMAGE"
            items.append(FeedMedia(media_id, media_type, caption, timestamp))
    return tuple(items)


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = decoded.partition(":")
    if prefix != "offset" or not number.isdigit():
        return None
    return int(number)


def _tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def _graph_error(message: str, code: int, status: int) -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbenchTrace",
        }
    }
    return web.json_response(body, status=status)


@dataclass
class FakeFeed:
    """The fake server: start it, point a client at `graph_url`, read `requests` afterwards.

    `requests` counts served requests by kind: `media_page`, `children`, `media`,
    `profile` and `cdn`. `request_log` lists the path and query of every API request.
    """

    media_count: int = 2000
    carousel_every: int = 4
    latency: float = 0.0
    username: str = "bench_user"
    requests: Counter[str] = field(default_factory=Counter)
    request_log: list[str] = field(default_factory=list)
    feed: tuple[FeedMedia, ...] = ()
    _runner: web.AppRunner | None = None
    _base_url: str = ""
    _by_id: dict[str, FeedMedia] = field(default_factory=dict)
    _jpeg: bytes = b""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Generate the feed and start serving on `host:port` (0 picks a free port)."""
        self.feed = _generate_feed(self.media_count, self.carousel_every)
        self._by_id = {item.id: item for item in self.feed}
        for item in self.feed:
            self._by_id.update({child.id: child for child in item.children})
        self._jpeg = _tiny_jpeg()

        app = web.Application()
        app.router.add_get("/cdn/{media_id}.jpg", self._cdn)
        app.router.add_get("/cdn/{media_id}.mp4", self._cdn_video)
        for prefix in ("", "/{version:v[0-9]+\\.[0-9]+}"):
            app.router.add_get(prefix + "/me", self._profile)
            app.router.add_get(prefix + "/me/media", self._media_page)
            app.router.add_get(prefix + "/{media_id:[0-9]+}/children", self._children)
            app.router.add_get(prefix + "/{media_id:[0-9]+}", self._media)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def graph_url(self) -> str:
        """Root to use as the Graph URL (`INSTAGRAM_GRAPH_URL`)."""
        if not self._base_url:
            raise RuntimeError("FakeFeed is not started; await start() first")
        return self._base_url

    @property
    def api_requests(self) -> int:
        """Number of served API requests, CDN downloads excluded."""
        return sum(count for kind, count in self.requests.items() if kind != "cdn")

    def publish(self, caption: str | None = "A new bench post") -> FeedMedia:
        """Add a new single-photo post at the top of the feed, timestamped now."""
        # The API's timestamps have whole seconds, so round up to stay after anything that
        # happened in the current second, such as a subscription.
        now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        newest = self.feed[0].timestamp if self.feed else _NEWEST_POST
        post = FeedMedia(
            id=f"1791{len(self.feed):011d}",
            media_type="IMAGE",
            caption=caption,
            timestamp=max(now, newest + timedelta(seconds=1)),
        )
        self.feed = (post, *self.feed)
        self._by_id[post.id] = post
        return post

    def media_url(self, media_id: str, *, video: bool = False) -> str:
        """Return the fake signed CDN URL of one photo, or of one video with `video`."""
        extension = "mp4" if video else "jpg"
        return f"{self.graph_url}/cdn/{media_id}.{extension}?oh=benchsig&oe=66AABBCC"

    def render(self, item: FeedMedia, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Render one item with the requested fields, as the Graph API would."""
        rendered: dict[str, Any] = {"id": item.id}
        if "media_type" in fields:
            rendered["media_type"] = item.media_type
        if "media_url" in fields:
            rendered["media_url"] = self.media_url(item.id, video=item.media_type == "VIDEO")
        if "thumbnail_url" in fields and item.media_type == "VIDEO":
            rendered["thumbnail_url"] = self.media_url(item.id + "t")
        if "permalink" in fields:
            rendered["permalink"] = f"https://www.instagram.com/p/B{item.id[-8:]}/"
        if "timestamp" in fields:
            rendered["timestamp"] = item.timestamp.strftime("%Y-%m-%dT%H:%M:%S%z")
        if "username" in fields:
            rendered["username"] = self.username
        if "caption" in fields and item.caption is not None:
            rendered["caption"] = item.caption
        if "children" in fields and item.children:
            child_fields = fields["children"] or {"id": {}}
            rendered["children"] = {
                "data": [self.render(child, child_fields) for child in item.children]
            }
        return rendered

    async def _authorize(self, request: web.Request) -> web.Response | None:
        self.request_log.append(request.path_qs)
        if self.latency:
            await asyncio.sleep(self.latency)
        if not request.query.get("access_token"):
            return _graph_error("An active access token must be used.", 190, 400)
        return None

    async def _profile(self, request: web.Request) -> web.Response:
        if (error := await self._authorize(request)) is not None:
            return error
        self.requests["profile"] += 1
        return web.json_response(
            {
                "id": "17841400000000001",
                "user_id": "17841400000000001",
                "username": self.username,
                "account_type": "MEDIA_CREATOR",
                "media_count": len(self.feed),
            }
        )

    async def _media_page(self, request: web.Request) -> web.Response:
        if (error := await self._authorize(request)) is not None:
            return error
        self.requests["media_page"] += 1

        fields = parse_fields(request.query.get("fields", "id"))
        try:
            limit = int(request.query.get("limit", DEFAULT_PAGE_LIMIT))
        except ValueError:
            return _graph_error("(#100) Param limit must be an integer", 100, 400)
        limit = max(1, min(limit, MAX_PAGE_LIMIT))
        start = 0
        if after := request.query.get("after"):
            decoded = _decode_cursor(after)
            if decoded is None:
                return _graph_error("(#100) Invalid cursor", 100, 400)
            start = decoded

        window = self.feed[start : start + limit]
        body: dict[str, Any] = {"data": [self.render(item, fields) for item in window]}
        if window:
            end = start + len(window)
            paging: dict[str, Any] = {
                "cursors": {"before": _encode_cursor(start), "after": _encode_cursor(end)}
            }
            if end < len(self.feed):
                query = dict(request.query)
                query["after"] = _encode_cursor(end)
                paging["next"] = str(request.url.with_query(query))
            body["paging"] = paging
        return web.json_response(body)

    async def _children(self, request: web.Request) -> web.Response:
        if (error := await self._authorize(request)) is not None:
            return error
        self.requests["children"] += 1

        item = self._by_id.get(request.match_info["media_id"])
        if item is None:
            return _graph_error("Unsupported get request.", 100, 400)
        fields = parse_fields(request.query.get("fields", "id"))
        return web.json_response({"data": [self.render(child, fields) for child in item.children]})

    async def _media(self, request: web.Request) -> web.Response:
        if (error := await self._authorize(request)) is not None:
            return error
        self.requests["media"] += 1

        item = self._by_id.get(request.match_info["media_id"])
        if item is None:
            return _graph_error("Unsupported get request.", 100, 400)
        fields = parse_fields(request.query.get("fields", "id"))
        return web.json_response(self.render(item, fields))

    async def _cdn(self, request: web.Request) -> web.Response:
        self.requests["cdn"] += 1
        return web.Response(body=self._jpeg, content_type="image/jpeg")

    async def _cdn_video(self, request: web.Request) -> web.Response:
        self.requests["cdn"] += 1
        return web.Response(body=_FAKE_MP4, content_type="video/mp4")
