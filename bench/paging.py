"""Instagram paging: fetch a whole feed with our client and with python-facebook-api.

Both clients read the same `FakeFeed` on loopback, which waits 20 ms before every response,
and both ask for pages of the same size. Our `InstagramClient` asks for carousel children
inline (`children{...}` in `fields`). python-facebook-api 0.24 (`pyfacebook`) is used the
way its `IGBasicDisplayApi` is meant to be used: `user.get_media` walks the `next` links
with the library's default fields, then `media.get_children` fetches each carousel. A second
pyfacebook figure passes `children{...}` in its fields too, to show how much of the gap is
the number of requests.

pyfacebook takes a `base_url`, so it is pointed at the fake without patching. Its requests
session ignores proxy variables and rejects any host but 127.0.0.1 (see `_LoopbackOnly`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bench.fake_feed import FakeFeed
from bench.report import Figure
from bot.instagram import InstagramClient, MediaType

__all__ = ["run"]

GRAPH_VERSION = "v25.0"
PAGE_LIMIT = 100
ACCESS_TOKEN = "IGQVJbenchFakeToken"
# python-facebook-api's default media fields (IG_BASIC_MEDIA_FIELDS in version 0.24).
NAIVE_FIELDS = "caption,id,media_type,media_url,permalink,thumbnail_url,timestamp,username"
MEDIA_FIELDS = (
    "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp,username,"
    "children{media_type,media_url,thumbnail_url}"
)


async def _fetch_with_gramlink(graph_url: str) -> int:
    """Walk the whole feed with our client and return the number of media and children."""
    fetched = 0
    async with InstagramClient(
        client_id="1000000000000001",
        client_secret="bench-app-secret",
        redirect_uri="http://127.0.0.1/oauth/callback",
        authorize_url=f"{graph_url}/oauth/authorize",
        api_url=graph_url,
        graph_url=graph_url,
        graph_version=GRAPH_VERSION,
    ) as client:
        after: str | None = None
        while True:
            page = await client.media_page(ACCESS_TOKEN, after=after, limit=PAGE_LIMIT)
            for item in page.items:
                fetched += 1
                children = item.children
                if item.media_type is MediaType.CAROUSEL_ALBUM and not children:
                    children = await client.children(ACCESS_TOKEN, item.id)
                fetched += len(children)
            if not page.has_next or page.after is None:
                return fetched
            after = page.after


def _loopback_adapter() -> Any:
    """Build a requests adapter that raises for every host but 127.0.0.1."""
    from requests.adapters import HTTPAdapter

    class _LoopbackOnly(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            host = urlsplit(request.url).hostname
            if host != "127.0.0.1":
                raise RuntimeError(
                    f"request to {host!r} blocked: benchmarks may only reach 127.0.0.1"
                )
            return super().send(request, *args, **kwargs)

    return _LoopbackOnly()


def _pyfacebook_client(graph_url: str) -> Any:
    from pyfacebook import IGBasicDisplayApi  # only this benchmark needs the `bench` extra

    api = IGBasicDisplayApi(
        access_token=ACCESS_TOKEN,
        base_url=f"{graph_url}/",
        version=GRAPH_VERSION,
        sleep_on_rate_limit=False,
        timeout=30,
    )
    api.session.trust_env = False
    adapter = _loopback_adapter()
    api.session.mount("http://", adapter)
    api.session.mount("https://", adapter)
    return api


def _fetch_with_pyfacebook(graph_url: str) -> int:
    """Walk the feed with pyfacebook's defaults and one children request per carousel."""
    api = _pyfacebook_client(graph_url)
    try:
        response = api.user.get_media(count=None, limit=PAGE_LIMIT)
        fetched = 0
        for item in response.data:
            fetched += 1
            if item.media_type == "CAROUSEL_ALBUM":
                fetched += len(api.media.get_children(item.id).data)
        return fetched
    finally:
        api.session.close()


def _fetch_with_pyfacebook_inline_children(graph_url: str) -> int:
    """Walk the feed with pyfacebook, asking for children inline as our client does."""
    api = _pyfacebook_client(graph_url)
    try:
        # The typed IgBasicMedia model has no `children` field, so read the raw JSON.
        response = api.user.get_media(
            count=None, limit=PAGE_LIMIT, fields=MEDIA_FIELDS, return_json=True
        )
        fetched = 0
        for item in response["data"]:
            fetched += 1 + len(item.get("children", {}).get("data", []))
        return fetched
    finally:
        api.session.close()


def _fetch_naively(graph_url: str) -> int:
    """Walk the feed as a naive client would: follow `next`, then fetch each carousel."""
    import httpx

    fetched = 0
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        url: str | None = f"{graph_url}/{GRAPH_VERSION}/me/media"
        params: dict[str, str] | None = {
            "fields": NAIVE_FIELDS,
            "limit": str(PAGE_LIMIT),
            "access_token": ACCESS_TOKEN,
        }
        while url is not None:
            if urlsplit(url).hostname != "127.0.0.1":
                raise RuntimeError(f"request to {url!r} blocked: only 127.0.0.1 is allowed")
            body = client.get(url, params=params).raise_for_status().json()
            for item in body["data"]:
                fetched += 1
                if item.get("media_type") == "CAROUSEL_ALBUM":
                    children = client.get(
                        f"{graph_url}/{GRAPH_VERSION}/{item['id']}/children",
                        params={"fields": NAIVE_FIELDS, "access_token": ACCESS_TOKEN},
                    )
                    fetched += len(children.raise_for_status().json()["data"])
            # The `next` link carries every query parameter.
            url, params = body.get("paging", {}).get("next"), None
    return fetched


def _pyfacebook_installed() -> bool:
    try:
        import pyfacebook  # noqa: F401
    except ImportError:
        return False
    return True


async def _timed_walk(feed: FakeFeed, walk: Callable[[str], int]) -> tuple[float, int, int]:
    """Run a blocking feed walk on a thread; return seconds, items fetched and requests."""
    feed.requests.clear()
    started = time.perf_counter()
    fetched = await asyncio.to_thread(walk, feed.graph_url)
    return time.perf_counter() - started, fetched, feed.api_requests


async def run(*, smoke: bool) -> list[Figure]:
    """Time one whole-feed walk per client and compare times and request counts."""
    feed = FakeFeed(media_count=60 if smoke else 2000, latency=0.002 if smoke else 0.020)
    if _pyfacebook_installed():
        baseline_name = "pyfacebook"
        baseline_walk = _fetch_with_pyfacebook
    else:
        # NOTE: without the `bench` extra the baseline is a naive httpx loop, not pyfacebook.
        baseline_name = "naive httpx loop (python-facebook-api not installed)"
        baseline_walk = _fetch_naively

    await feed.start()
    try:
        expected = len(feed.feed) + sum(len(item.children) for item in feed.feed)
        started = time.perf_counter()
        ours_fetched = await _fetch_with_gramlink(feed.graph_url)
        ours_seconds = time.perf_counter() - started
        ours_requests = feed.api_requests

        theirs_seconds, theirs_fetched, theirs_requests = await _timed_walk(feed, baseline_walk)
        inline: tuple[float, int, int] | None = None
        if baseline_walk is _fetch_with_pyfacebook:
            inline = await _timed_walk(feed, _fetch_with_pyfacebook_inline_children)
    finally:
        await feed.stop()

    fetched_counts = [("gramlink", ours_fetched), (baseline_name, theirs_fetched)]
    if inline is not None:
        fetched_counts.append(("pyfacebook with inline children", inline[1]))
    for client, fetched in fetched_counts:
        if fetched != expected:
            raise RuntimeError(
                f"{client} fetched {fetched} media and children, expected {expected}"
            )

    size = f"{len(feed.feed)} media, {expected} with children, {feed.latency * 1000:g} ms/request"
    figures = [
        Figure(
            "whole feed time",
            ours_seconds,
            "s",
            baseline_name,
            theirs_seconds,
            goal_max=0.5,
            note=size,
        ),
        Figure("whole feed requests", ours_requests, "requests", baseline_name, theirs_requests),
    ]
    if inline is not None:
        figures.append(
            Figure(
                "whole feed time, same requests",
                ours_seconds,
                "s",
                "pyfacebook inline children",
                inline[0],
                note=f"{inline[2]} requests each",
            )
        )
    return figures
