"""Tests for sending media to Telegram against the fake Bot API and a loopback media host."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from instagram_stub import MediaHost
from telegram import Bot

from bot.playground import FakeTelegram
from bot.services.albums import MediaFile, MediaKind
from bot.services.delivery import DeliveryService, DeliveryStatus
from bot.services.pacing import SendGovernor
from storage import Storage

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
USER_ID = 2001
GROUP_ID = -100200
OWNER_ID = "17840000000000001"


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    fake.add_group(GROUP_ID, "Hikers", admins=[USER_ID])
    yield fake
    await fake.stop()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def delivery(
    fake: FakeTelegram, storage: Storage, sleep: RecordingSleep
) -> AsyncIterator[DeliveryService]:
    bot = Bot(fake.token, base_url=f"{fake.api_url}/bot", base_file_url=f"{fake.api_url}/file/bot")
    async with bot, httpx.AsyncClient() as http_client:
        yield DeliveryService(
            bot,
            storage=storage,
            http_client=http_client,
            clock=lambda: NOW,
            governor=SendGovernor(overall_rate=1000, group_rate=1000),
            sleep=sleep,
            max_video_bytes=2000,
        )


def photo(host: MediaHost, media_id: str, *, folder: str = "media", caption: str | None = None):
    return MediaFile(
        media_id=media_id,
        kind=MediaKind.PHOTO,
        media_url=f"{host.base_url}/{folder}/{media_id}.jpg",
        owner_id=OWNER_ID,
        post_id=media_id,
        caption=caption,
    )


def video(host: MediaHost, media_id: str, *, name: str | None = None, post_id: str | None = None):
    return MediaFile(
        media_id=media_id,
        kind=MediaKind.VIDEO,
        media_url=f"{host.base_url}/media/{name or media_id}.mp4",
        owner_id=OWNER_ID,
        post_id=post_id or media_id,
        thumbnail_url=f"{host.base_url}/media/{media_id}-thumb.jpg",
    )


async def subscribe_group(storage: Storage) -> None:
    """Connect the Instagram account of `USER_ID` and subscribe `GROUP_ID` to it."""
    account = await storage.save_account(
        telegram_user_id=USER_ID,
        instagram_user_id=OWNER_ID,
        username="fake.user",
        account_type="BUSINESS",
        access_token="IGAAfake",
        token_issued_at=NOW,
        token_expires_at=NOW + timedelta(days=60),
        now=NOW,
    )
    await storage.subscribe(
        chat_id=GROUP_ID, account_id=account.id, subscribed_by=USER_ID, now=NOW
    )


def album_sources(fake: FakeTelegram) -> list[str]:
    media = fake.calls("sendMediaGroup")[-1].params["media"]
    items = json.loads(media) if isinstance(media, str) else media
    return [item["media"] for item in items]


async def test_send_album_single_photo_by_url(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, storage: Storage
) -> None:
    result = await delivery.send_album(USER_ID, [photo(media_host, "101", caption="<b>hi</b>")])

    assert result.status is DeliveryStatus.SENT
    assert result.sent == 1
    assert fake.calls("sendPhoto")[0].params["photo"].endswith("/media/101.jpg")
    assert fake.calls("sendPhoto")[0].params["parse_mode"] == "HTML"
    assert fake.downloads == 1
    assert await storage.get_cached_file_id("101", "photo") is not None


async def test_send_album_group_caches_each_kind(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, storage: Storage
) -> None:
    files = [
        photo(media_host, "201", caption="first"),
        photo(media_host, "202"),
        video(media_host, "203"),
    ]

    result = await delivery.send_album(USER_ID, files)

    assert result.sent == 3
    assert len(fake.calls("sendMediaGroup")) == 1
    assert await storage.get_cached_file_id("201", "photo") is not None
    assert await storage.get_cached_file_id("202", "photo") is not None
    assert await storage.get_cached_file_id("203", "video") is not None
    assert await storage.get_cached_file_id("203", "photo") is None


async def test_send_album_reuses_file_ids(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, storage: Storage
) -> None:
    files = [photo(media_host, "301"), video(media_host, "302")]
    await delivery.send_album(USER_ID, files)
    fake_downloads, host_downloads = fake.downloads, media_host.downloads()

    result = await delivery.send_album(GROUP_ID, files)

    assert result.status is DeliveryStatus.SENT
    assert fake.downloads == fake_downloads
    assert media_host.downloads() == host_downloads
    assert album_sources(fake) == [
        await storage.get_cached_file_id("301", "photo"),
        await storage.get_cached_file_id("302", "video"),
    ]


async def test_send_album_uploads_when_url_fails(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, storage: Storage
) -> None:
    fake.url_fetch_fails = True
    files = [photo(media_host, "401"), photo(media_host, "402")]

    result = await delivery.send_album(USER_ID, files)

    assert result.status is DeliveryStatus.SENT
    assert fake.uploads == 2
    assert media_host.hits["/media/401.jpg"] == 1
    assert album_sources(fake)[0].startswith("attach://")
    assert await storage.get_cached_file_id("401", "photo") is not None


async def test_send_album_refreshes_expired_url(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost
) -> None:
    fake.url_fetch_fails = True
    refreshed: list[str] = []

    async def refresh_url(file: MediaFile) -> str:
        refreshed.append(file.media_id)
        return f"{media_host.base_url}/fresh/{file.media_id}.jpg"

    result = await delivery.send_album(
        USER_ID, [photo(media_host, "501", folder="expired")], refresh_url=refresh_url
    )

    assert result.status is DeliveryStatus.SENT
    assert refreshed == ["501"]
    assert media_host.hits["/fresh/501.jpg"] == 1


async def test_send_album_expired_url_without_refresh_fails(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost
) -> None:
    fake.url_fetch_fails = True

    result = await delivery.send_album(USER_ID, [photo(media_host, "502", folder="expired")])

    assert result.status is DeliveryStatus.FAILED


async def test_send_album_forgets_rejected_file_id(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, storage: Storage
) -> None:
    await storage.cache_file_id(
        media_id="601", kind="photo", file_id="AgACstale", instagram_user_id=OWNER_ID, now=NOW
    )

    result = await delivery.send_album(USER_ID, [photo(media_host, "601")])
    cached = await storage.get_cached_file_id("601", "photo")

    assert result.status is DeliveryStatus.SENT
    assert fake.calls("sendPhoto")[0].params["photo"] == "AgACstale"
    assert fake.calls("sendPhoto")[-1].params["photo"].endswith("/media/601.jpg")
    assert cached is not None
    assert cached != "AgACstale"


async def test_send_album_honours_retry_after(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, sleep: RecordingSleep
) -> None:
    fake.fail_next("sendPhoto", 429, "Too Many Requests: retry after 7", retry_after=7)

    result = await delivery.send_album(USER_ID, [photo(media_host, "701")])

    assert result.status is DeliveryStatus.SENT
    assert sleep.waits == [7.0]
    assert len(fake.calls("sendPhoto")) == 2


async def test_send_album_long_retry_after_gives_up(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, sleep: RecordingSleep
) -> None:
    fake.fail_next("sendPhoto", 429, "Too Many Requests: retry after 900", retry_after=900)

    result = await delivery.send_album(USER_ID, [photo(media_host, "702")])

    assert result.status is DeliveryStatus.RATE_LIMITED
    assert result.retry_after == 900.0
    assert sleep.waits == []


async def test_send_album_follows_chat_migration(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, storage: Storage
) -> None:
    await subscribe_group(storage)
    fake.migrate_group(GROUP_ID, -1009000)

    result = await delivery.send_album(
        GROUP_ID, [photo(media_host, "801"), photo(media_host, "802")]
    )

    assert result.status is DeliveryStatus.SENT
    assert result.chat_id == -1009000
    assert len(await storage.subscriptions_for_chat(-1009000)) == 1
    assert await storage.subscriptions_for_chat(GROUP_ID) == []


async def test_send_album_forbidden_deactivates_chat(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost, storage: Storage
) -> None:
    await subscribe_group(storage)
    fake.block_bot(GROUP_ID)

    result = await delivery.send_album(GROUP_ID, [photo(media_host, "901")])

    assert result.status is DeliveryStatus.CHAT_GONE
    assert await storage.subscriptions_for_chat(GROUP_ID) == []


async def test_send_album_drops_too_large_video(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost
) -> None:
    fake.url_fetch_fails = True
    files = [
        MediaFile(
            media_id="1001",
            kind=MediaKind.VIDEO,
            media_url=f"{media_host.base_url}/media/big-1001.mp4",
            owner_id=OWNER_ID,
            post_id="1000",
            caption="carousel caption",
        ),
        MediaFile(
            media_id="1002",
            kind=MediaKind.PHOTO,
            media_url=f"{media_host.base_url}/media/1002.jpg",
            owner_id=OWNER_ID,
            post_id="1000",
        ),
    ]

    result = await delivery.send_album(USER_ID, files)

    assert result.status is DeliveryStatus.SENT
    assert result.sent == 1
    assert [file.media_id for file in result.too_large] == ["1001"]
    assert fake.calls("sendPhoto")[-1].params["caption"] == "carousel caption"


async def test_send_album_only_too_large_video(
    delivery: DeliveryService, fake: FakeTelegram, media_host: MediaHost
) -> None:
    fake.url_fetch_fails = True

    result = await delivery.send_album(USER_ID, [video(media_host, "1101", name="big-1101")])

    assert result.status is DeliveryStatus.TOO_LARGE
    assert fake.uploads == 0


async def test_send_text_to_blocked_chat(delivery: DeliveryService, fake: FakeTelegram) -> None:
    fake.block_bot(GROUP_ID)

    result = await delivery.send_text(GROUP_ID, "A video was too large")

    assert result.status is DeliveryStatus.CHAT_GONE


async def test_send_album_rejects_more_than_ten(
    delivery: DeliveryService, media_host: MediaHost
) -> None:
    files = [photo(media_host, str(1200 + index)) for index in range(11)]

    with pytest.raises(ValueError, match="at most 10"):
        await delivery.send_album(USER_ID, files)
