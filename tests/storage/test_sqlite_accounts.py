"""Telegram users, connected accounts and the token refresh bookkeeping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storage_helpers import (
    ACCESS_TOKEN,
    GROUP_CHAT_ID,
    INSTAGRAM_USER_ID,
    NEW_ACCESS_TOKEN,
    NOW,
    OTHER_INSTAGRAM_USER_ID,
    OTHER_TELEGRAM_USER_ID,
    TELEGRAM_USER_ID,
    save_test_account,
)

from storage import AccountStatus
from storage.sqlite import SQLiteStorage

REFRESH_WINDOW = timedelta(days=10)
MIN_TOKEN_AGE = timedelta(hours=24)


async def due_ids(storage: SQLiteStorage, *, limit: int = 100) -> list[int]:
    accounts = await storage.accounts_due_for_refresh(
        now=NOW, expires_within=REFRESH_WINDOW, min_age=MIN_TOKEN_AGE, limit=limit
    )
    return [account.id for account in accounts]


# Telegram users


async def test_upsert_telegram_user_updates_names(storage: SQLiteStorage) -> None:
    await storage.upsert_telegram_user(TELEGRAM_USER_ID, "old_name", "Ada")
    await storage.upsert_telegram_user(TELEGRAM_USER_ID, "new_name", None)

    async with (
        storage._read() as connection,
        connection.execute(
            "SELECT username, first_name FROM telegram_users WHERE telegram_user_id = ?",
            (TELEGRAM_USER_ID,),
        ) as cursor,
    ):
        rows = list(await cursor.fetchall())

    assert len(rows) == 1
    assert tuple(rows[0]) == ("new_name", None)


# Saving and reading accounts


async def test_save_account_returns_stored_values(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    assert account.telegram_user_id == TELEGRAM_USER_ID
    assert account.instagram_user_id == INSTAGRAM_USER_ID
    assert account.username == "user_0001"
    assert account.account_type == "BUSINESS"
    assert account.status is AccountStatus.ACTIVE
    assert account.access_token == ACCESS_TOKEN
    assert account.token_issued_at == NOW - timedelta(days=55)
    assert account.token_expires_at == NOW + timedelta(days=5)
    assert account.connected_at == NOW
    assert account.refresh_failures == 0
    assert await storage.get_account(account.id) == account
    assert await storage.get_account_for_user(TELEGRAM_USER_ID) == account


async def test_get_account_missing_returns_none(storage: SQLiteStorage) -> None:
    assert await storage.get_account(12345) is None
    assert await storage.get_account_for_user(TELEGRAM_USER_ID) is None


async def test_reconnect_same_instagram_user_keeps_id(storage: SQLiteStorage) -> None:
    first = await save_test_account(storage)
    await storage.record_refresh_failure(
        first.id, error="timeout", now=NOW, next_attempt_at=NOW + timedelta(hours=1)
    )
    await storage.mark_expiry_warned(first.id, now=NOW)
    await storage.mark_needs_reconnect(first.id, error="code 190", now=NOW)
    subscription, _ = await storage.subscribe(
        chat_id=GROUP_CHAT_ID, account_id=first.id, subscribed_by=TELEGRAM_USER_ID, now=NOW
    )

    later = NOW + timedelta(days=1)
    second = await save_test_account(storage, access_token=NEW_ACCESS_TOKEN, now=later)

    assert second.id == first.id
    assert second.status is AccountStatus.ACTIVE
    assert second.access_token == NEW_ACCESS_TOKEN
    assert second.connected_at == later
    assert second.refresh_failures == 0
    assert second.last_refresh_error is None
    assert second.next_refresh_at is None
    assert second.expiry_warned_at is None
    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == [subscription]
    assert await storage.count_accounts() == 1


async def test_connect_other_instagram_user_replaces_account(storage: SQLiteStorage) -> None:
    first = await save_test_account(storage)
    await storage.subscribe(
        chat_id=GROUP_CHAT_ID, account_id=first.id, subscribed_by=TELEGRAM_USER_ID, now=NOW
    )
    session = await storage.create_browsing_session(
        telegram_user_id=TELEGRAM_USER_ID, account_id=first.id, now=NOW
    )
    await storage.cache_file_id(
        media_id="18000000000000001",
        kind="photo",
        file_id="AgACAgFakeFileId1",
        instagram_user_id=INSTAGRAM_USER_ID,
        now=NOW,
    )

    second = await save_test_account(
        storage, instagram_user_id=OTHER_INSTAGRAM_USER_ID, access_token=NEW_ACCESS_TOKEN
    )

    assert second.id != first.id
    assert second.instagram_user_id == OTHER_INSTAGRAM_USER_ID
    assert second.access_token == NEW_ACCESS_TOKEN
    assert await storage.get_account(first.id) is None
    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == []
    assert await storage.get_browsing_session(session.id) is None
    assert await storage.get_cached_file_id("18000000000000001", "photo") is None
    assert await storage.count_accounts() == 1


async def test_same_instagram_user_for_two_telegram_users(storage: SQLiteStorage) -> None:
    first = await save_test_account(storage)
    second = await save_test_account(
        storage, telegram_user_id=OTHER_TELEGRAM_USER_ID, access_token=NEW_ACCESS_TOKEN
    )

    connections = await storage.accounts_for_instagram_user(INSTAGRAM_USER_ID)

    assert [account.id for account in connections] == [first.id, second.id]
    assert [account.access_token for account in connections] == [ACCESS_TOKEN, NEW_ACCESS_TOKEN]
    assert await storage.accounts_for_instagram_user(OTHER_INSTAGRAM_USER_ID) == []
    assert await storage.count_accounts() == 2


# Token refresh


async def test_update_token_replaces_and_clears(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    await storage.record_refresh_failure(
        account.id, error="HTTP 500", now=NOW, next_attempt_at=NOW + timedelta(minutes=30)
    )
    await storage.mark_expiry_warned(account.id, now=NOW)

    refreshed_at = NOW + timedelta(hours=1)
    await storage.update_token(
        account.id,
        access_token=NEW_ACCESS_TOKEN,
        token_issued_at=refreshed_at,
        token_expires_at=refreshed_at + timedelta(days=60),
        now=refreshed_at,
    )
    updated = await storage.get_account(account.id)

    assert updated is not None
    assert updated.access_token == NEW_ACCESS_TOKEN
    assert updated.token_issued_at == refreshed_at
    assert updated.token_expires_at == refreshed_at + timedelta(days=60)
    assert updated.last_refresh_attempt_at == refreshed_at
    assert updated.refresh_failures == 0
    assert updated.last_refresh_error is None
    assert updated.next_refresh_at is None
    assert updated.expiry_warned_at is None


async def test_update_token_skips_inactive_account(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    await storage.disconnect_instagram_user(INSTAGRAM_USER_ID, now=NOW)

    await storage.update_token(
        account.id,
        access_token=NEW_ACCESS_TOKEN,
        token_issued_at=NOW,
        token_expires_at=NOW + timedelta(days=60),
        now=NOW,
    )
    await storage.update_token(
        99999,
        access_token=NEW_ACCESS_TOKEN,
        token_issued_at=NOW,
        token_expires_at=NOW + timedelta(days=60),
        now=NOW,
    )
    unchanged = await storage.get_account(account.id)

    assert unchanged is not None
    assert unchanged.status is AccountStatus.DISCONNECTED
    assert unchanged.access_token is None


@pytest.mark.parametrize(
    ("issued_ago", "expires_in", "next_refresh_in", "status", "due"),
    [
        (timedelta(days=55), timedelta(days=5), None, "active", True),
        (timedelta(days=55), timedelta(days=10), None, "active", True),
        (timedelta(days=49), timedelta(days=11), None, "active", False),
        (timedelta(days=60), timedelta(seconds=0), None, "active", False),
        (timedelta(days=61), -timedelta(days=1), None, "active", False),
        (timedelta(hours=23), timedelta(days=5), None, "active", False),
        (timedelta(hours=24), timedelta(days=5), None, "active", True),
        (timedelta(days=55), timedelta(days=5), timedelta(minutes=5), "active", False),
        (timedelta(days=55), timedelta(days=5), -timedelta(minutes=5), "active", True),
        (timedelta(days=55), timedelta(days=5), timedelta(0), "active", True),
        (timedelta(days=55), timedelta(days=5), None, "needs_reconnect", False),
        (timedelta(days=55), timedelta(days=5), None, "disconnected", False),
    ],
)
async def test_accounts_due_for_refresh_window(
    storage: SQLiteStorage,
    issued_ago: timedelta,
    expires_in: timedelta,
    next_refresh_in: timedelta | None,
    status: str,
    due: bool,
) -> None:
    account = await save_test_account(
        storage, issued_at=NOW - issued_ago, expires_at=NOW + expires_in
    )
    if next_refresh_in is not None:
        await storage.record_refresh_failure(
            account.id, error="HTTP 500", now=NOW, next_attempt_at=NOW + next_refresh_in
        )
    if status == "needs_reconnect":
        await storage.mark_needs_reconnect(account.id, error="code 190", now=NOW)
    elif status == "disconnected":
        await storage.disconnect_instagram_user(INSTAGRAM_USER_ID, now=NOW)

    assert await due_ids(storage) == ([account.id] if due else [])


async def test_accounts_due_for_refresh_order_and_limit(storage: SQLiteStorage) -> None:
    later = await save_test_account(
        storage, telegram_user_id=1, expires_at=NOW + timedelta(days=8)
    )
    sooner = await save_test_account(
        storage, telegram_user_id=2, expires_at=NOW + timedelta(days=2)
    )
    middle = await save_test_account(
        storage, telegram_user_id=3, expires_at=NOW + timedelta(days=5)
    )

    assert await due_ids(storage) == [sooner.id, middle.id, later.id]
    assert await due_ids(storage, limit=2) == [sooner.id, middle.id]

    due = await storage.accounts_due_for_refresh(
        now=NOW, expires_within=REFRESH_WINDOW, min_age=MIN_TOKEN_AGE, limit=1
    )
    assert due[0].access_token == ACCESS_TOKEN


async def test_accounts_due_for_refresh_negative_limit(storage: SQLiteStorage) -> None:
    await save_test_account(storage)

    with pytest.raises(ValueError, match="limit"):
        await due_ids(storage, limit=-1)
    assert await due_ids(storage, limit=0) == []


async def test_due_for_refresh_query_uses_index(storage: SQLiteStorage) -> None:
    for telegram_user_id in range(1, 21):
        await save_test_account(storage, telegram_user_id=telegram_user_id)
    plan_without_statistics = await storage.explain_due_for_refresh()
    async with storage._write() as connection:
        await connection.execute("ANALYZE")
    plan_with_statistics = await storage.explain_due_for_refresh()

    for plan in (plan_without_statistics, plan_with_statistics):
        assert "accounts_status_expiry" in plan
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan
        assert "SCAN accounts" not in plan


async def test_due_for_refresh_query_matches_call(storage: SQLiteStorage) -> None:
    sooner = await save_test_account(
        storage, telegram_user_id=1, expires_at=NOW + timedelta(days=2)
    )
    await save_test_account(storage, telegram_user_id=2, expires_at=NOW + timedelta(days=5))

    sql, parameters = storage.due_for_refresh_query(
        now=NOW, expires_within=REFRESH_WINDOW, min_age=MIN_TOKEN_AGE, limit=1
    )
    async with storage._read() as connection, connection.execute(sql, parameters) as cursor:
        rows = list(await cursor.fetchall())

    assert sql.count("FROM accounts") == 1
    assert parameters["limit"] == 1
    assert [row["id"] for row in rows] == [sooner.id]
    assert await due_ids(storage, limit=1) == [sooner.id]


async def test_record_refresh_failure_counts(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    retry_at = NOW + timedelta(minutes=10)

    first = await storage.record_refresh_failure(
        account.id, error="HTTP 502", now=NOW, next_attempt_at=NOW + timedelta(minutes=5)
    )
    second = await storage.record_refresh_failure(
        account.id, error="timed out", now=NOW, next_attempt_at=retry_at
    )
    stored = await storage.get_account(account.id)

    assert (first, second) == (1, 2)
    assert stored is not None
    assert stored.refresh_failures == 2
    assert stored.last_refresh_error == "timed out"
    assert stored.last_refresh_attempt_at == NOW
    assert stored.next_refresh_at == retry_at
    assert stored.access_token == ACCESS_TOKEN
    assert (
        await storage.record_refresh_failure(
            99999, error="gone", now=NOW, next_attempt_at=retry_at
        )
        == 0
    )


async def test_mark_expiry_warned_once_until_refresh(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    assert await storage.mark_expiry_warned(account.id, now=NOW) is True
    assert await storage.mark_expiry_warned(account.id, now=NOW + timedelta(hours=1)) is False
    warned = await storage.get_account(account.id)
    assert warned is not None
    assert warned.expiry_warned_at == NOW

    await storage.update_token(
        account.id,
        access_token=NEW_ACCESS_TOKEN,
        token_issued_at=NOW,
        token_expires_at=NOW + timedelta(days=60),
        now=NOW,
    )

    assert await storage.mark_expiry_warned(account.id, now=NOW) is True


async def test_mark_needs_reconnect_first_transition_only(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    assert await storage.mark_needs_reconnect(account.id, error="code 190", now=NOW) is True
    assert await storage.mark_needs_reconnect(account.id, error="code 190", now=NOW) is False
    assert await storage.mark_needs_reconnect(99999, error="code 190", now=NOW) is False
    stored = await storage.get_account(account.id)

    assert stored is not None
    assert stored.status is AccountStatus.NEEDS_RECONNECT
    assert stored.access_token is None
    assert stored.last_refresh_error == "code 190"


async def test_disconnect_instagram_user_all_connections(storage: SQLiteStorage) -> None:
    first = await save_test_account(storage)
    second = await save_test_account(storage, telegram_user_id=OTHER_TELEGRAM_USER_ID)
    bystander = await save_test_account(
        storage, telegram_user_id=3, instagram_user_id=OTHER_INSTAGRAM_USER_ID
    )

    assert await storage.disconnect_instagram_user(INSTAGRAM_USER_ID, now=NOW) == 2
    assert await storage.disconnect_instagram_user(INSTAGRAM_USER_ID, now=NOW) == 0
    for account_id in (first.id, second.id):
        stored = await storage.get_account(account_id)
        assert stored is not None
        assert stored.status is AccountStatus.DISCONNECTED
        assert stored.access_token is None
    assert await storage.get_account(bystander.id) == bystander
    assert await storage.mark_needs_reconnect(first.id, error="code 190", now=NOW) is False


async def test_delete_account_for_user(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    other = await save_test_account(storage, telegram_user_id=OTHER_TELEGRAM_USER_ID)

    assert await storage.delete_account_for_user(TELEGRAM_USER_ID) is True
    assert await storage.delete_account_for_user(TELEGRAM_USER_ID) is False
    assert await storage.get_account(account.id) is None
    assert await storage.get_account(other.id) == other
    assert await storage.count_accounts() == 1


async def test_delete_account_for_user_checks_id(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    deleted_other = await storage.delete_account_for_user(
        TELEGRAM_USER_ID, account_id=account.id + 1
    )
    assert deleted_other is False
    assert await storage.get_account(account.id) == account

    deleted_named = await storage.delete_account_for_user(TELEGRAM_USER_ID, account_id=account.id)
    assert deleted_named is True
    assert await storage.get_account(account.id) is None


async def test_deleted_account_id_not_reused(storage: SQLiteStorage) -> None:
    first = await save_test_account(storage)
    await storage.delete_account_for_user(TELEGRAM_USER_ID)

    second = await save_test_account(storage)

    assert second.id > first.id
