"""OAuth states, browsing sessions, the file_id cache, deletion requests and job runs."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from storage_helpers import (
    INSTAGRAM_USER_ID,
    NOW,
    OTHER_INSTAGRAM_USER_ID,
    TELEGRAM_USER_ID,
    save_test_account,
    sqlite_url,
)

from storage import DeletionStatus, OAuthStateClaim, StorageError
from storage.sqlite import SQLiteStorage

STATE = "pP3xq0wYfT7cY2m1v8Zr4Q"
OTHER_STATE = "b9Lk2dQw7NcX0aZs5TgH1e"
STATE_TTL = timedelta(minutes=10)
CHAT_ID = TELEGRAM_USER_ID


async def create_state(storage: SQLiteStorage, state: str = STATE) -> None:
    await storage.create_oauth_state(
        state=state, telegram_user_id=TELEGRAM_USER_ID, chat_id=CHAT_ID, now=NOW, ttl=STATE_TTL
    )


# OAuth states


async def test_create_oauth_state_values(storage: SQLiteStorage) -> None:
    created = await storage.create_oauth_state(
        state=STATE, telegram_user_id=TELEGRAM_USER_ID, chat_id=CHAT_ID, now=NOW, ttl=STATE_TTL
    )

    assert created.state == STATE
    assert created.telegram_user_id == TELEGRAM_USER_ID
    assert created.chat_id == CHAT_ID
    assert created.created_at == NOW
    assert created.expires_at == NOW + STATE_TTL
    assert created.used_at is None


async def test_create_oauth_state_duplicate_raises(storage: SQLiteStorage) -> None:
    await create_state(storage)

    with pytest.raises(StorageError):
        await create_state(storage)


async def test_claim_oauth_state_outcomes(storage: SQLiteStorage) -> None:
    await create_state(storage)
    await create_state(storage, OTHER_STATE)
    claim_time = NOW + timedelta(minutes=1)

    claimed = await storage.claim_oauth_state(STATE, now=claim_time)
    reused = await storage.claim_oauth_state(STATE, now=claim_time)
    unknown = await storage.claim_oauth_state("never-issued", now=claim_time)
    expired = await storage.claim_oauth_state(OTHER_STATE, now=NOW + STATE_TTL)

    assert claimed[0] is OAuthStateClaim.CLAIMED
    assert claimed[1] is not None
    assert claimed[1].used_at == claim_time
    assert claimed[1].telegram_user_id == TELEGRAM_USER_ID
    assert claimed[1].chat_id == CHAT_ID
    assert reused[0] is OAuthStateClaim.USED
    assert reused[1] is not None
    assert unknown == (OAuthStateClaim.UNKNOWN, None)
    assert expired[0] is OAuthStateClaim.EXPIRED
    assert expired[1] is not None
    assert expired[1].used_at is None


async def test_claim_oauth_state_used_and_expired(storage: SQLiteStorage) -> None:
    await create_state(storage)
    await storage.claim_oauth_state(STATE, now=NOW)

    outcome, _ = await storage.claim_oauth_state(STATE, now=NOW + STATE_TTL * 2)

    assert outcome is OAuthStateClaim.USED


async def test_claim_oauth_state_race_one_winner(storage: SQLiteStorage) -> None:
    await create_state(storage)

    results = await asyncio.gather(*(storage.claim_oauth_state(STATE, now=NOW) for _ in range(50)))
    outcomes = Counter(outcome for outcome, _ in results)

    assert outcomes[OAuthStateClaim.CLAIMED] == 1
    assert outcomes[OAuthStateClaim.USED] == 49


async def test_claim_race_across_connections(database_path: Path, encryption_key: str) -> None:
    url = sqlite_url(database_path)
    first = await SQLiteStorage.open(url, encryption_key=encryption_key)
    second = await SQLiteStorage.open(url, encryption_key=encryption_key)
    await create_state(first)

    try:
        results = await asyncio.gather(
            *(
                (first if index % 2 else second).claim_oauth_state(STATE, now=NOW)
                for index in range(50)
            )
        )
    finally:
        await first.close()
        await second.close()
    outcomes = Counter(outcome for outcome, _ in results)

    assert outcomes[OAuthStateClaim.CLAIMED] == 1
    assert outcomes[OAuthStateClaim.USED] == 49


async def test_purge_oauth_states(storage: SQLiteStorage) -> None:
    await create_state(storage)
    await create_state(storage, OTHER_STATE)
    await create_state(storage, "still-pending-state")
    await storage.claim_oauth_state(STATE, now=NOW)

    purged = await storage.purge_oauth_states(now=NOW + timedelta(minutes=5))
    remaining = await storage.claim_oauth_state("still-pending-state", now=NOW)
    purged_later = await storage.purge_oauth_states(now=NOW + STATE_TTL)

    assert purged == 1
    assert remaining[0] is OAuthStateClaim.CLAIMED
    assert purged_later == 2
    assert (await storage.claim_oauth_state(OTHER_STATE, now=NOW))[0] is OAuthStateClaim.UNKNOWN


# Browsing sessions


async def test_browsing_session_lifecycle(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    created = await storage.create_browsing_session(
        telegram_user_id=TELEGRAM_USER_ID, account_id=account.id, now=NOW
    )
    later = NOW + timedelta(minutes=3)
    cursors = (None, "QVFIUmFjdXJzb3IxMjM0NTY3ODkw", "QVFIUmFjdXJzb3I5ODc2NTQzMjE")
    await storage.update_browsing_session(created.id, cursors=cursors, page=2, now=later)
    updated = await storage.get_browsing_session(created.id)

    assert len(created.id) <= 16
    assert re.fullmatch(r"[A-Za-z0-9_-]+", created.id)
    assert created.cursors == (None,)
    assert created.page == 0
    assert await storage.get_browsing_session("missing") is None
    assert updated is not None
    assert updated.cursors == cursors
    assert updated.page == 2
    assert updated.created_at == NOW
    assert updated.updated_at == later
    assert updated.account_id == account.id
    assert updated.telegram_user_id == TELEGRAM_USER_ID


async def test_browsing_session_created_with_cursors(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    cursors = (None, "QVFIUmFjdXJzb3IxMjM0NTY3ODkw")

    created = await storage.create_browsing_session(
        telegram_user_id=TELEGRAM_USER_ID, account_id=account.id, now=NOW, cursors=cursors
    )
    stored = await storage.get_browsing_session(created.id)

    assert created.cursors == cursors
    assert stored is not None
    assert stored.cursors == cursors
    assert stored.page == 0


async def test_browsing_session_rejects_cursor_for_page_zero(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    for cursors in [(), ("QVFIUmFjdXJzb3IxMjM0NTY3ODkw",)]:
        with pytest.raises(ValueError, match="cursors must start with None"):
            await storage.create_browsing_session(
                telegram_user_id=TELEGRAM_USER_ID, account_id=account.id, now=NOW, cursors=cursors
            )


async def test_browsing_session_ids_unique(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    sessions = [
        await storage.create_browsing_session(
            telegram_user_id=TELEGRAM_USER_ID, account_id=account.id, now=NOW
        )
        for _ in range(20)
    ]

    assert len({session.id for session in sessions}) == 20


async def test_browsing_session_rejects_negative_page(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    session = await storage.create_browsing_session(
        telegram_user_id=TELEGRAM_USER_ID, account_id=account.id, now=NOW
    )

    with pytest.raises(ValueError, match="page"):
        await storage.update_browsing_session(session.id, cursors=(None,), page=-1, now=NOW)


async def test_browsing_session_needs_existing_account(storage: SQLiteStorage) -> None:
    with pytest.raises(StorageError):
        await storage.create_browsing_session(
            telegram_user_id=TELEGRAM_USER_ID, account_id=99999, now=NOW
        )


async def test_purge_browsing_sessions(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    stale = await storage.create_browsing_session(
        telegram_user_id=TELEGRAM_USER_ID, account_id=account.id, now=NOW
    )
    fresh = await storage.create_browsing_session(
        telegram_user_id=TELEGRAM_USER_ID, account_id=account.id, now=NOW
    )
    await storage.update_browsing_session(
        fresh.id, cursors=(None,), page=0, now=NOW + timedelta(days=2)
    )

    purged = await storage.purge_browsing_sessions(older_than=NOW + timedelta(days=1))

    assert purged == 1
    assert await storage.get_browsing_session(stale.id) is None
    assert await storage.get_browsing_session(fresh.id) is not None


# Telegram file_id cache


async def test_file_id_cache_store_replace_forget(storage: SQLiteStorage) -> None:
    media_id = "18000000000000001"
    await storage.cache_file_id(
        media_id=media_id,
        kind="photo",
        file_id="AgACAgFakeFileId1",
        instagram_user_id=INSTAGRAM_USER_ID,
        now=NOW,
    )
    await storage.cache_file_id(
        media_id=media_id,
        kind="video",
        file_id="BAACAgFakeFileId2",
        instagram_user_id=INSTAGRAM_USER_ID,
        now=NOW,
    )

    assert await storage.get_cached_file_id(media_id, "photo") == "AgACAgFakeFileId1"
    assert await storage.get_cached_file_id(media_id, "video") == "BAACAgFakeFileId2"
    assert await storage.get_cached_file_id("18000000000000009", "photo") is None

    await storage.cache_file_id(
        media_id=media_id,
        kind="photo",
        file_id="AgACAgFakeFileId3",
        instagram_user_id=INSTAGRAM_USER_ID,
        now=NOW,
    )
    assert await storage.get_cached_file_id(media_id, "photo") == "AgACAgFakeFileId3"

    await storage.forget_file_id(media_id, "photo")
    assert await storage.get_cached_file_id(media_id, "photo") is None
    assert await storage.get_cached_file_id(media_id, "video") == "BAACAgFakeFileId2"


async def test_get_cached_file_ids_reads_many(storage: SQLiteStorage) -> None:
    cached = {
        ("18000000000000001", "photo"): "AgACAgFakeFileId1",
        ("18000000000000001", "video"): "BAACAgFakeFileId2",
        ("18000000000000002", "photo"): "AgACAgFakeFileId3",
    }
    for (media_id, kind), file_id in cached.items():
        await storage.cache_file_id(
            media_id=media_id,
            kind=kind,
            file_id=file_id,
            instagram_user_id=INSTAGRAM_USER_ID,
            now=NOW,
        )

    found = await storage.get_cached_file_ids(
        [
            ("18000000000000001", "photo"),
            ("18000000000000002", "photo"),
            ("18000000000000002", "video"),
            ("18000000000000009", "photo"),
        ]
    )

    assert found == {
        ("18000000000000001", "photo"): "AgACAgFakeFileId1",
        ("18000000000000002", "photo"): "AgACAgFakeFileId3",
    }
    assert await storage.get_cached_file_ids([]) == {}


async def test_get_cached_file_ids_reads_in_chunks(storage: SQLiteStorage) -> None:
    media_ids = [str(18000000000000000 + index) for index in range(1_200)]
    for media_id in media_ids[::100]:
        await storage.cache_file_id(
            media_id=media_id,
            kind="photo",
            file_id=f"AgACAgFake{media_id}",
            instagram_user_id=INSTAGRAM_USER_ID,
            now=NOW,
        )

    found = await storage.get_cached_file_ids([(media_id, "photo") for media_id in media_ids])

    assert found == {(media_id, "photo"): f"AgACAgFake{media_id}" for media_id in media_ids[::100]}


# Data-deletion requests


async def test_deletion_request_lifecycle(storage: SQLiteStorage) -> None:
    created = await storage.create_deletion_request(
        confirmation_code="del_2c8f1a", instagram_user_id=INSTAGRAM_USER_ID, now=NOW
    )
    await storage.create_deletion_request(
        confirmation_code="del_0b7e93",
        instagram_user_id=OTHER_INSTAGRAM_USER_ID,
        now=NOW + timedelta(seconds=1),
    )

    pending_before = await storage.pending_deletion_requests()
    await storage.complete_deletion_request("del_2c8f1a", now=NOW + timedelta(seconds=30))
    await storage.complete_deletion_request("del_2c8f1a", now=NOW + timedelta(hours=1))
    completed = await storage.get_deletion_request("del_2c8f1a")
    pending_after = await storage.pending_deletion_requests()

    assert created.status is DeletionStatus.PENDING
    assert await storage.get_deletion_request("del_unknown") is None
    assert [request.confirmation_code for request in pending_before] == [
        "del_2c8f1a",
        "del_0b7e93",
    ]
    assert completed is not None
    assert completed.status is DeletionStatus.COMPLETED
    assert completed.completed_at == NOW + timedelta(seconds=30)
    assert completed.requested_at == NOW
    assert completed.instagram_user_id == INSTAGRAM_USER_ID
    assert [request.confirmation_code for request in pending_after] == ["del_0b7e93"]


async def test_deletion_request_duplicate_code_raises(storage: SQLiteStorage) -> None:
    await storage.create_deletion_request(
        confirmation_code="del_2c8f1a", instagram_user_id=INSTAGRAM_USER_ID, now=NOW
    )

    with pytest.raises(StorageError):
        await storage.create_deletion_request(
            confirmation_code="del_2c8f1a", instagram_user_id=INSTAGRAM_USER_ID, now=NOW
        )


# Job bookkeeping


async def test_job_last_run(storage: SQLiteStorage) -> None:
    assert await storage.get_job_last_run("refresh") is None

    await storage.set_job_last_run("refresh", at=NOW)
    await storage.set_job_last_run("refresh", at=NOW + timedelta(hours=1))
    await storage.set_job_last_run("cleanup", at=NOW)

    assert await storage.get_job_last_run("refresh") == NOW + timedelta(hours=1)
    assert await storage.get_job_last_run("cleanup") == NOW
