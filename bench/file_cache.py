"""File cache: send the same 100 photos twice through `DeliveryService`.

The photos go as ten albums of ten to one private chat of the fake Bot API, and their URLs
point at `FakeFeed`'s CDN on loopback. In the first round Telegram must fetch every URL,
which the fake counts in `downloads`. In the second round the bot must send the cached
`file_id`s instead, so the counter must not move. The same two rounds are then repeated
with the fake unable to fetch URLs, so that the bot downloads and uploads each file
itself (the fake's `uploads` counter).

The send governor is opened wide here, because its flood limits would otherwise set the
pace of both rounds and hide what the cache saves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from telegram import Bot

from bench.fake_feed import FakeFeed
from bench.fake_thread import BENCH_BOT_TOKEN
from bench.gramlink_app import temporary_storage
from bench.report import Figure
from bot.playground import FakeTelegram
from bot.services.albums import MAX_ALBUM_SIZE, MediaFile, MediaKind
from bot.services.delivery import DeliveryService
from bot.services.pacing import SendGovernor

__all__ = ["run"]

CHAT_ID = 424_242
OWNER_ID = "17841400000000001"


@dataclass(frozen=True, slots=True)
class Round:
    """Seconds one round took and how often Telegram fetched a URL or got an upload."""

    seconds: float
    downloads: int
    uploads: int


def _albums(feed: FakeFeed, count: int, prefix: str) -> list[list[MediaFile]]:
    files = [
        MediaFile(
            media_id=f"{prefix}{index:06d}",
            kind=MediaKind.PHOTO,
            media_url=feed.media_url(f"{prefix}{index:06d}"),
            owner_id=OWNER_ID,
            post_id=f"{prefix}{index:06d}",
            caption="Bench photo" if index % MAX_ALBUM_SIZE == 0 else None,
        )
        for index in range(count)
    ]
    return [files[start : start + MAX_ALBUM_SIZE] for start in range(0, count, MAX_ALBUM_SIZE)]


async def _send_round(
    delivery: DeliveryService, telegram: FakeTelegram, albums: list[list[MediaFile]]
) -> Round:
    downloads, uploads = telegram.downloads, telegram.uploads
    started = time.perf_counter()
    for album in albums:
        result = await delivery.send_album(CHAT_ID, album)
        if not result.ok:
            raise RuntimeError(f"sending an album failed with status {result.status}")
    return Round(
        time.perf_counter() - started,
        telegram.downloads - downloads,
        telegram.uploads - uploads,
    )


async def _two_rounds(
    delivery: DeliveryService, telegram: FakeTelegram, albums: list[list[MediaFile]]
) -> tuple[Round, Round]:
    first = await _send_round(delivery, telegram, albums)
    second = await _send_round(delivery, telegram, albums)
    return first, second


async def run(*, smoke: bool) -> list[Figure]:
    """Send the media twice by URL and twice by upload, counting fetches and uploads."""
    count = 20 if smoke else 100
    telegram = FakeTelegram(BENCH_BOT_TOKEN)
    feed = FakeFeed(media_count=1)
    await telegram.start()
    await feed.start()
    bot = Bot(
        BENCH_BOT_TOKEN,
        base_url=f"{telegram.api_url}/bot",
        base_file_url=f"{telegram.api_url}/file/bot",
    )
    try:
        async with (
            temporary_storage("file-cache.db") as storage,
            bot,
            httpx.AsyncClient(timeout=30.0) as http_client,
        ):
            delivery = DeliveryService(
                bot,
                storage=storage,
                http_client=http_client,
                governor=SendGovernor(overall_rate=1_000_000, group_rate=1_000_000),
            )
            by_url = await _two_rounds(delivery, telegram, _albums(feed, count, "9100"))
            telegram.url_fetch_fails = True
            by_upload = await _two_rounds(delivery, telegram, _albums(feed, count, "9200"))
    finally:
        await feed.stop()
        await telegram.stop()

    url_first, url_second = by_url
    upload_first, upload_second = by_upload
    size = f"{count} photos in albums of {MAX_ALBUM_SIZE}"
    return [
        Figure(
            "by URL: round 2 Telegram downloads",
            url_second.downloads,
            "",
            "round 1",
            url_first.downloads,
            value_max=0,
            note=size,
        ),
        Figure("by URL: round 2 time", url_second.seconds, "s", "round 1", url_first.seconds),
        Figure(
            "by upload: round 2 uploads",
            upload_second.uploads,
            "",
            "round 1",
            upload_first.uploads,
            value_max=0,
            note="Telegram cannot fetch URLs, so the bot downloads and uploads",
        ),
        Figure(
            "by upload: round 2 time",
            upload_second.seconds,
            "s",
            "round 1",
            upload_first.seconds,
        ),
    ]
