"""Tests for group subscriptions and the poll that delivers new posts exactly once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from instagram_stub import MediaHost, StubInstagram, carousel, image, video
from telegram import Bot

from bot.instagram import MediaItem
from bot.playground import FakeTelegram
from bot.services.delivery import DeliveryService
from bot.services.pacing import SendGovernor
from bot.services.subscriptions import (
    MAX_POLL_PAGES,
    POLL_PAGE_SIZE,
    SubscribeStatus,
    SubscriptionService,
    UnsubscribeStatus,
    parse_confirm_callback_data,
)
from storage import AccountStatus, Storage, open_storage

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
OWNER = 3001
MEMBER = 3002
ADMIN = 3003
GROUP_ID = -100300
SECOND_GROUP_ID = -100301
TOKEN = "IGAAfake-owner"
MEMBER_TOKEN = "IGAAfake-member"
KEY = Fernet.generate_key().decode()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    fake.add_group(GROUP_ID, "Hikers", admins=[ADMIN])
    fake.add_group(SECOND_GROUP_ID, "Climbers", admins=[ADMIN])
    yield fake
    await fake.stop()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gramlink.db'}"


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    storage = await open_storage(database_url, encryption_key=KEY)
    for user_id, token, instagram_id in (
        (OWNER, TOKEN, "17840000000000001"),
        (MEMBER, MEMBER_TOKEN, "17840000000000002"),
    ):
        await storage.save_account(
            telegram_user_id=user_id,
            instagram_user_id=instagram_id,
            username=f"user{user_id}",
            account_type="BUSINESS",
            access_token=token,
            token_issued_at=NOW,
            token_expires_at=NOW + timedelta(days=60),
            now=NOW,
        )
    yield storage
    await storage.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def instagram(media_host: MediaHost) -> StubInstagram:
    old_posts = [image(str(100 + index), host=media_host.base_url) for index in range(5)]
    return StubInstagram({TOKEN: old_posts, MEMBER_TOKEN: []})


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = Bot(fake.token, base_url=f"{fake.api_url}/bot", base_file_url=f"{fake.api_url}/file/bot")
    async with bot:
        yield bot


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def build_service(
    bot: Bot,
    storage: Storage,
    instagram: StubInstagram,
    http_client: httpx.AsyncClient,
    clock: Clock,
    page_size: int = POLL_PAGE_SIZE,
) -> SubscriptionService:
    delivery = DeliveryService(
        bot,
        storage=storage,
        http_client=http_client,
        clock=clock,
        governor=SendGovernor(overall_rate=1000, group_rate=1000),
        max_video_bytes=2000,
    )
    return SubscriptionService(
        storage=storage,
        instagram=instagram,  # type: ignore[arg-type]
        delivery=delivery,
        clock=clock,
        page_size=page_size,
    )


@pytest.fixture
def service(
    bot: Bot,
    storage: Storage,
    instagram: StubInstagram,
    http_client: httpx.AsyncClient,
    clock: Clock,
) -> SubscriptionService:
    return build_service(bot, storage, instagram, http_client, clock)


def new_post(post: MediaItem, minutes: int) -> MediaItem:
    """Return the post as published `minutes` after the subscription time."""
    return replace(post, timestamp=NOW + timedelta(minutes=minutes))


def sent_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    """Return the file names of the photos and videos the bot sent to a chat, in order."""
    names: list[str] = []
    for call in fake.requests:
        if call.error_code is not None or int(call.params.get("chat_id", 0)) != chat_id:
            continue
        if call.method in ("sendPhoto", "sendVideo"):
            names.append(str(call.params.get("photo") or call.params.get("video")).rsplit("/")[-1])
        elif call.method == "sendMediaGroup":
            media = call.params["media"]
            items = json.loads(media) if isinstance(media, str) else media
            names.extend(str(item["media"]).rsplit("/")[-1] for item in items)
    return names


# Subscribing


async def test_subscribe_admin_subscribes_directly(service: SubscriptionService) -> None:
    first = await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    second = await service.subscribe(GROUP_ID, OWNER, is_admin=True)

    assert first.status is SubscribeStatus.SUBSCRIBED
    assert first.username == f"user{OWNER}"
    assert second.status is SubscribeStatus.ALREADY


async def test_subscribe_member_needs_admin_confirmation(
    service: SubscriptionService, storage: Storage
) -> None:
    requested = await service.subscribe(GROUP_ID, OWNER, is_admin=False)

    assert requested.status is SubscribeStatus.NEEDS_ADMIN
    assert requested.confirm_data is not None
    assert len(requested.confirm_data.encode()) <= 64
    assert await storage.subscriptions_for_chat(GROUP_ID) == []

    by_member = await service.confirm(GROUP_ID, requested.confirm_data, is_admin=False)
    by_admin = await service.confirm(GROUP_ID, requested.confirm_data, is_admin=True)
    again = await service.confirm(GROUP_ID, requested.confirm_data, is_admin=True)

    assert by_member.status is SubscribeStatus.NOT_ADMIN
    assert by_admin.status is SubscribeStatus.SUBSCRIBED
    assert again.status is SubscribeStatus.ALREADY
    assert len(await storage.subscriptions_for_chat(GROUP_ID)) == 1


@pytest.mark.parametrize("data", ["sc:1", "sc:x:1", "m:1:2", "sc:99:3001", "sc:1:3002", ""])
async def test_confirm_rejects_stale_data(service: SubscriptionService, data: str) -> None:
    assert (await service.confirm(GROUP_ID, data, is_admin=True)).status is SubscribeStatus.STALE


def test_parse_confirm_callback_data_round_trip() -> None:
    assert parse_confirm_callback_data("sc:12:3001") == (12, 3001)
    assert parse_confirm_callback_data("sc:-1:3001") is None


async def test_subscribe_without_account(service: SubscriptionService) -> None:
    result = await service.subscribe(GROUP_ID, 9999, is_admin=True)

    assert result.status is SubscribeStatus.NOT_CONNECTED


async def test_subscribe_needs_reconnect(service: SubscriptionService, storage: Storage) -> None:
    account = await storage.get_account_for_user(OWNER)
    assert account is not None
    await storage.mark_needs_reconnect(account.id, error="code 190", now=NOW)

    result = await service.subscribe(GROUP_ID, OWNER, is_admin=True)

    assert result.status is SubscribeStatus.NEEDS_RECONNECT


# Unsubscribing


async def test_unsubscribe_own_subscription(
    service: SubscriptionService, storage: Storage
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.subscribe(GROUP_ID, MEMBER, is_admin=True)

    result = await service.unsubscribe(GROUP_ID, OWNER, is_admin=False)
    remaining = await storage.subscriptions_for_chat(GROUP_ID)

    assert result.status is UnsubscribeStatus.UNSUBSCRIBED
    assert result.usernames == (f"user{OWNER}",)
    assert len(remaining) == 1


async def test_unsubscribe_by_other_member_is_rejected(service: SubscriptionService) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)

    result = await service.unsubscribe(GROUP_ID, 4444, is_admin=False)

    assert result.status is UnsubscribeStatus.NOT_ALLOWED


async def test_unsubscribe_by_admin_removes_all(
    service: SubscriptionService, storage: Storage
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.subscribe(GROUP_ID, MEMBER, is_admin=True)

    result = await service.unsubscribe(GROUP_ID, ADMIN, is_admin=True)

    assert result.status is UnsubscribeStatus.UNSUBSCRIBED
    assert sorted(result.usernames) == [f"user{OWNER}", f"user{MEMBER}"]
    assert await storage.subscriptions_for_chat(GROUP_ID) == []


async def test_unsubscribe_without_subscription(service: SubscriptionService) -> None:
    result = await service.unsubscribe(GROUP_ID, OWNER, is_admin=True)

    assert result.status is UnsubscribeStatus.NOT_SUBSCRIBED


# Polling


async def test_poll_first_run_skips_back_catalogue(
    service: SubscriptionService, fake: FakeTelegram
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)

    summary = await service.poll()

    assert summary.accounts == 1
    assert summary.chats == 1
    assert summary.delivered == 0
    assert sent_to(fake, GROUP_ID) == []


async def test_poll_delivers_new_posts_once_oldest_first(
    service: SubscriptionService,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.poll()
    instagram.tokens[TOKEN][:0] = [
        new_post(image("202", host=media_host.base_url), 2),
        new_post(image("201", host=media_host.base_url), 1),
    ]

    first = await service.poll()
    second = await service.poll()

    assert first.delivered == 2
    assert second.delivered == 0
    assert sent_to(fake, GROUP_ID) == ["201.jpg", "202.jpg"]


async def test_poll_after_restart_sends_no_duplicates(
    service: SubscriptionService,
    storage: Storage,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
    bot: Bot,
    http_client: httpx.AsyncClient,
    clock: Clock,
    database_url: str,
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    instagram.tokens[TOKEN].insert(0, new_post(image("301", host=media_host.base_url), 1))
    await service.poll()
    await service.poll()
    await storage.close()

    reopened = await open_storage(database_url, encryption_key=KEY)
    try:
        restarted = build_service(bot, reopened, instagram, http_client, clock)
        summary = await restarted.poll()
    finally:
        await reopened.close()

    assert summary.delivered == 0
    assert sent_to(fake, GROUP_ID) == ["301.jpg"]


async def test_poll_reads_older_pages_of_backlog(
    service: SubscriptionService,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.poll()
    backlog = [
        new_post(image(str(1000 + minute), host=media_host.base_url), minute)
        for minute in range(1, 31)
    ]
    instagram.tokens[TOKEN][:0] = reversed(backlog)
    requests_before = instagram.requests["media_page"]

    first = await service.poll()
    first_requests = instagram.requests["media_page"] - requests_before
    second = await service.poll()

    # 35 posts in pages of 25: the second page ends at the old posts, so paging stops.
    assert first_requests == 2
    assert first.delivered == 30
    assert second.delivered == 0
    assert sent_to(fake, GROUP_ID) == [f"{1000 + minute}.jpg" for minute in range(1, 31)]


async def test_poll_stops_at_page_limit(
    bot: Bot,
    storage: Storage,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
    http_client: httpx.AsyncClient,
    clock: Clock,
) -> None:
    page_size = 5
    service = build_service(bot, storage, instagram, http_client, clock, page_size=page_size)
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.poll()
    backlog = [
        new_post(image(str(1000 + minute), host=media_host.base_url), minute)
        for minute in range(1, 31)
    ]
    instagram.tokens[TOKEN][:0] = reversed(backlog)
    requests_before = instagram.requests["media_page"]

    first = await service.poll()
    first_requests = instagram.requests["media_page"] - requests_before
    second = await service.poll()
    read = MAX_POLL_PAGES * page_size

    assert first_requests == MAX_POLL_PAGES
    assert first.delivered == read
    assert second.delivered == 0
    # Only the newest pages are read, so the oldest posts of a longer backlog are missed.
    assert sent_to(fake, GROUP_ID) == [f"{1000 + minute}.jpg" for minute in range(31 - read, 31)]


async def test_poll_reads_each_account_once(
    service: SubscriptionService,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.subscribe(SECOND_GROUP_ID, OWNER, is_admin=True)
    instagram.tokens[TOKEN].insert(0, new_post(image("401", host=media_host.base_url), 1))

    summary = await service.poll()

    assert instagram.requests["media_page"] == 1
    assert summary.delivered == 2
    assert sent_to(fake, GROUP_ID) == ["401.jpg"]
    assert len(sent_to(fake, SECOND_GROUP_ID)) == 1
    # The second chat gets the cached file_id, so the photo is fetched only once.
    assert media_host.hits["/media/401.jpg"] == 1


async def test_poll_sends_carousel_as_album(
    service: SubscriptionService,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
) -> None:
    host = media_host.base_url
    children = [image("501", host=host), video("502", host=host)]
    instagram.tokens[TOKEN].insert(0, new_post(carousel("500", children), 1))
    instagram.inline_children = False
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)

    await service.poll()

    assert sent_to(fake, GROUP_ID) == ["501.jpg", "502.mp4"]
    assert instagram.requests["children"] == 1


async def test_poll_invalid_token_marks_reconnect(
    service: SubscriptionService, storage: Storage, instagram: StubInstagram
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    del instagram.tokens[TOKEN]

    summary = await service.poll()
    account = await storage.get_account_for_user(OWNER)

    assert summary.delivered == 0
    assert summary.accounts_failed == 1
    assert account is not None
    assert account.status is AccountStatus.NEEDS_RECONNECT


async def test_poll_blocked_chat_does_not_stop_others(
    service: SubscriptionService,
    storage: Storage,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.subscribe(SECOND_GROUP_ID, OWNER, is_admin=True)
    await service.poll()
    fake.block_bot(GROUP_ID)
    instagram.tokens[TOKEN].insert(0, new_post(image("601", host=media_host.base_url), 1))

    summary = await service.poll()
    later = await service.poll()

    assert summary.delivered == 1
    assert summary.failed == 1
    assert sent_to(fake, SECOND_GROUP_ID) == ["601.jpg"]
    assert await storage.subscriptions_for_chat(GROUP_ID) == []
    assert later.chats == 1


async def test_poll_follows_migrated_group(
    service: SubscriptionService,
    storage: Storage,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    await service.poll()
    fake.migrate_group(GROUP_ID, -1009300)
    instagram.tokens[TOKEN].insert(0, new_post(image("701", host=media_host.base_url), 1))
    instagram.tokens[TOKEN].insert(0, new_post(image("702", host=media_host.base_url), 2))

    summary = await service.poll()

    assert summary.delivered == 2
    assert sent_to(fake, -1009300) == ["701.jpg", "702.jpg"]
    assert len(await storage.subscriptions_for_chat(-1009300)) == 1


async def test_poll_too_large_video_gets_note(
    service: SubscriptionService,
    fake: FakeTelegram,
    instagram: StubInstagram,
    media_host: MediaHost,
) -> None:
    await service.subscribe(GROUP_ID, OWNER, is_admin=True)
    fake.url_fetch_fails = True
    big = replace(
        video("801", host=media_host.base_url), media_url=f"{media_host.base_url}/media/big.mp4"
    )
    instagram.tokens[TOKEN].insert(0, new_post(big, 1))

    summary = await service.poll()
    notes = [call.params["text"] for call in fake.calls("sendMessage") if call.error_code is None]

    assert summary.delivered == 1
    assert len(notes) == 1
    assert "too large" in notes[0]
