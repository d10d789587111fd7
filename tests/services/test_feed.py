"""Tests for `/media` pages, `/latest` photos and inline results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from instagram_stub import StubInstagram, carousel, image, video

from bot.instagram import InstagramUnavailableError, RateLimitError
from bot.services.albums import MediaKind
from bot.services.feed import FeedService, FeedStatus
from storage import AccountStatus, Storage, open_storage

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
USER_ID = 1001
OTHER_USER_ID = 1002
TOKEN = "IGAAfake-token-one"
OTHER_TOKEN = "IGAAfake-token-two"


async def connect(storage: Storage, user_id: int, token: str, instagram_user_id: str) -> None:
    await storage.save_account(
        telegram_user_id=user_id,
        instagram_user_id=instagram_user_id,
        username=f"user{user_id}",
        account_type="BUSINESS",
        access_token=token,
        token_issued_at=NOW,
        token_expires_at=NOW + timedelta(days=60),
        now=NOW,
    )


def numbered_posts(count: int) -> list:
    return [image(str(5000 + index)) for index in range(count)]


@pytest.fixture
def instagram() -> StubInstagram:
    return StubInstagram({TOKEN: numbered_posts(25), OTHER_TOKEN: numbered_posts(3)})


@pytest.fixture
async def feed(storage: Storage, instagram: StubInstagram) -> FeedService:
    await connect(storage, USER_ID, TOKEN, "17840000000000001")
    await connect(storage, OTHER_USER_ID, OTHER_TOKEN, "17840000000000002")
    return FeedService(storage=storage, instagram=instagram, clock=lambda: NOW)  # type: ignore[arg-type]


def media_ids(page) -> list[str]:
    return [file.media_id for album in page.albums for file in album]


async def test_page_first_page_has_albums(feed: FeedService) -> None:
    page = await feed.page(USER_ID)

    assert page.status is FeedStatus.OK
    assert media_ids(page) == [str(5000 + index) for index in range(10)]
    assert page.page == 0
    assert page.has_older
    assert not page.has_newer
    assert page.username == f"user{USER_ID}"


async def test_page_forward_to_end_and_back(feed: FeedService) -> None:
    first = await feed.page(USER_ID)
    second = await feed.page(USER_ID, first.session_id, 1)
    third = await feed.page(USER_ID, first.session_id, 2)
    back = await feed.page(USER_ID, first.session_id, 1)

    assert media_ids(second) == [str(5010 + index) for index in range(10)]
    assert second.has_older
    assert second.has_newer
    assert media_ids(third) == [str(5020 + index) for index in range(5)]
    assert not third.has_older
    assert third.has_newer
    assert media_ids(back) == media_ids(second)
    assert back.session_id == first.session_id


async def test_page_unknown_next_page_is_stale(feed: FeedService) -> None:
    first = await feed.page(USER_ID)

    assert (await feed.page(USER_ID, first.session_id, 2)).status is FeedStatus.STALE
    assert (await feed.page(USER_ID, first.session_id, -1)).status is FeedStatus.STALE


async def test_page_unknown_session_is_stale(feed: FeedService) -> None:
    assert (await feed.page(USER_ID, "no-such-session", 0)).status is FeedStatus.STALE


async def test_page_foreign_session_is_stale(feed: FeedService) -> None:
    other = await feed.page(OTHER_USER_ID)

    assert (await feed.page(USER_ID, other.session_id, 0)).status is FeedStatus.FOREIGN
    assert (await feed.page(4242, other.session_id, 0)).status is FeedStatus.FOREIGN


async def test_page_session_of_replaced_account_is_stale(
    feed: FeedService, storage: Storage, instagram: StubInstagram
) -> None:
    first = await feed.page(USER_ID)
    instagram.tokens["IGAAfake-new"] = numbered_posts(2)
    await connect(storage, USER_ID, "IGAAfake-new", "17840000000000009")

    assert (await feed.page(USER_ID, first.session_id, 0)).status is FeedStatus.STALE


async def test_page_not_connected(feed: FeedService) -> None:
    assert (await feed.page(4242)).status is FeedStatus.NOT_CONNECTED


async def test_page_invalid_token_marks_reconnect(
    feed: FeedService, storage: Storage, instagram: StubInstagram
) -> None:
    del instagram.tokens[TOKEN]

    page = await feed.page(USER_ID)
    account = await storage.get_account_for_user(USER_ID)

    assert page.status is FeedStatus.NEEDS_RECONNECT
    assert account is not None
    assert account.status is AccountStatus.NEEDS_RECONNECT
    assert (await feed.page(USER_ID)).status is FeedStatus.NEEDS_RECONNECT
    assert instagram.requests["media_page"] == 1


async def test_page_rate_limited_has_retry_after(
    feed: FeedService, instagram: StubInstagram
) -> None:
    error = RateLimitError("Application request limit reached", status=400, code=4)
    error.retry_after = 600.0
    instagram.error = error

    page = await feed.page(USER_ID)

    assert page.status is FeedStatus.RATE_LIMITED
    assert page.retry_after == 600.0


async def test_page_instagram_down(feed: FeedService, instagram: StubInstagram) -> None:
    instagram.error = InstagramUnavailableError("Instagram timed out")

    assert (await feed.page(USER_ID)).status is FeedStatus.UNAVAILABLE


async def test_page_no_posts_is_empty(feed: FeedService, instagram: StubInstagram) -> None:
    instagram.tokens[TOKEN] = []

    assert (await feed.page(USER_ID)).status is FeedStatus.EMPTY


async def test_page_fetches_missing_children(feed: FeedService, instagram: StubInstagram) -> None:
    children = [image("601"), video("602")]
    instagram.tokens[TOKEN] = [carousel("600", children), image("603")]
    instagram.inline_children = False

    page = await feed.page(USER_ID)

    assert [[file.media_id for file in album] for album in page.albums] == [
        ["601", "602"],
        ["603"],
    ]
    assert page.albums[0][1].kind is MediaKind.VIDEO
    assert instagram.requests["children"] == 1


async def test_page_refresh_url_fetches_media(feed: FeedService, instagram: StubInstagram) -> None:
    page = await feed.page(USER_ID)

    fresh = await page.refresh_url(page.albums[0][0])

    assert fresh == "http://127.0.0.1:9/fresh/5000.jpg"
    assert instagram.requests["media"] == 1


@pytest.mark.parametrize(("count", "expected"), [(1, ["701"]), (3, ["701", "703", "704"])])
async def test_latest_photos_skips_videos(
    feed: FeedService, instagram: StubInstagram, count: int, expected: list[str]
) -> None:
    instagram.tokens[TOKEN] = [
        image("701"),
        video("702"),
        carousel("7", [image("703"), image("704")]),
    ]

    latest = await feed.latest_photos(USER_ID, count)

    assert latest.status is FeedStatus.OK
    assert [photo.media_id for photo in latest.photos] == expected


async def test_latest_photos_reads_more_pages(feed: FeedService, instagram: StubInstagram) -> None:
    instagram.tokens[TOKEN] = [video("801"), video("802"), image("803")]

    latest = await feed.latest_photos(USER_ID, 1)

    assert [photo.media_id for photo in latest.photos] == ["803"]
    assert instagram.requests["media_page"] == 3


async def test_latest_photos_only_videos_is_empty(
    feed: FeedService, instagram: StubInstagram
) -> None:
    instagram.tokens[TOKEN] = [video("901")]

    assert (await feed.latest_photos(USER_ID, 2)).status is FeedStatus.EMPTY


async def test_inline_photos_pages_with_short_offsets(
    feed: FeedService, instagram: StubInstagram
) -> None:
    instagram.tokens[TOKEN] = numbered_posts(30)
    first = await feed.inline_photos(USER_ID)
    second = await feed.inline_photos(USER_ID, first.next_offset)

    assert first.status is FeedStatus.OK
    assert [photo.file.media_id for photo in first.photos] == [str(5000 + i) for i in range(25)]
    assert first.next_offset
    assert len(first.next_offset.encode()) <= 64
    assert [photo.file.media_id for photo in second.photos] == [str(5025 + i) for i in range(5)]
    assert second.next_offset == ""


async def test_inline_photos_splits_pages_over_fifty(
    feed: FeedService, instagram: StubInstagram
) -> None:
    instagram.tokens[TOKEN] = [
        carousel(str(100 + post), [image(f"{100 + post}{child:02d}") for child in range(10)])
        for post in range(6)
    ]

    first = await feed.inline_photos(USER_ID)
    second = await feed.inline_photos(USER_ID, first.next_offset)

    assert len(first.photos) == 50
    assert len(second.photos) == 10
    assert second.photos[0].file.media_id == "10500"
    assert second.next_offset == ""


async def test_inline_photos_foreign_offset_is_stale(
    feed: FeedService, instagram: StubInstagram
) -> None:
    instagram.tokens[OTHER_TOKEN] = numbered_posts(30)
    other = await feed.inline_photos(OTHER_USER_ID)

    assert (await feed.inline_photos(USER_ID, other.next_offset)).status is FeedStatus.STALE


@pytest.mark.parametrize("offset", ["garbage", "a:b:c", "x:1", "nope:0:0", "::"])
async def test_inline_photos_bad_offset_is_stale(feed: FeedService, offset: str) -> None:
    assert (await feed.inline_photos(USER_ID, offset)).status is FeedStatus.STALE


async def test_inline_photos_returns_cached_file_id(feed: FeedService, storage: Storage) -> None:
    await storage.cache_file_id(
        media_id="5000",
        kind="photo",
        file_id="AgACfake",
        instagram_user_id="17840000000000001",
        now=NOW,
    )

    result = await feed.inline_photos(USER_ID)

    assert result.photos[0].file_id == "AgACfake"
    assert result.photos[1].file_id is None


async def test_inline_photos_not_connected(feed: FeedService) -> None:
    assert (await feed.inline_photos(4242)).status is FeedStatus.NOT_CONNECTED


async def test_page_session_survives_restart(instagram: StubInstagram, tmp_path) -> None:
    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'feed.db'}"
    first_storage = await open_storage(url, encryption_key=key)
    await connect(first_storage, USER_ID, TOKEN, "17840000000000001")
    before = FeedService(storage=first_storage, instagram=instagram, clock=lambda: NOW)  # type: ignore[arg-type]
    first = await before.page(USER_ID)
    await first_storage.close()

    reopened = await open_storage(url, encryption_key=key)
    try:
        after = FeedService(storage=reopened, instagram=instagram, clock=lambda: NOW)  # type: ignore[arg-type]
        second = await after.page(USER_ID, first.session_id, 1)
    finally:
        await reopened.close()

    assert second.status is FeedStatus.OK
    assert media_ids(second) == [str(5010 + index) for index in range(10)]
