"""Atomicity, concurrency, cascading deletion, durability and time handling."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from storage_helpers import (
    ACCESS_TOKEN,
    GROUP_CHAT_ID,
    INSTAGRAM_USER_ID,
    NOW,
    OTHER_GROUP_CHAT_ID,
    OTHER_INSTAGRAM_USER_ID,
    OTHER_TELEGRAM_USER_ID,
    TELEGRAM_USER_ID,
    count_rows_per_table,
    save_test_account,
    sqlite_url,
)

import storage.sqlite as sqlite_module
from storage import AccountStatus
from storage.sqlite import SQLiteStorage

REPOSITORY_ROOT = Path(sqlite_module.__file__).resolve().parents[1]


async def seed_user_data(
    storage: SQLiteStorage,
    *,
    telegram_user_id: int,
    instagram_user_id: str,
    chat_id: int,
    media_suffix: str,
) -> None:
    """Create a row in every table that can refer to one user."""
    await storage.upsert_telegram_user(telegram_user_id, f"tg_{telegram_user_id}", "Test")
    account = await save_test_account(
        storage, telegram_user_id=telegram_user_id, instagram_user_id=instagram_user_id
    )
    await storage.create_oauth_state(
        state=f"state-{telegram_user_id}",
        telegram_user_id=telegram_user_id,
        chat_id=telegram_user_id,
        now=NOW,
        ttl=timedelta(minutes=10),
    )
    await storage.create_browsing_session(
        telegram_user_id=telegram_user_id, account_id=account.id, now=NOW
    )
    await storage.cache_file_id(
        media_id=f"1800000000000{media_suffix}",
        kind="photo",
        file_id=f"AgACAgFake{media_suffix}",
        instagram_user_id=instagram_user_id,
        now=NOW,
    )
    subscription, _ = await storage.subscribe(
        chat_id=chat_id, account_id=account.id, subscribed_by=telegram_user_id, now=NOW
    )
    await storage.record_delivery(
        subscription_id=subscription.id,
        chat_id=chat_id,
        media_id=f"1800000000000{media_suffix}",
        now=NOW,
    )
    await storage.create_deletion_request(
        confirmation_code=f"del_{media_suffix}", instagram_user_id=instagram_user_id, now=NOW
    )


# Cascading deletion

# Rows of the deleted user that each method keeps on purpose: the Telegram user and their
# OAuth states are not Instagram data, and a deletion request must stay for its status page.
KEPT_ROWS = {
    "delete_instagram_user_data": {"telegram_users": 1, "oauth_states": 1, "deletion_requests": 1},
    "delete_account_for_user": {"telegram_users": 1, "oauth_states": 1, "deletion_requests": 1},
    "delete_telegram_user": {"deletion_requests": 1},
}


@pytest.mark.parametrize("method", sorted(KEPT_ROWS))
async def test_deletion_leaves_no_dependent_row(database_path: Path, method: str) -> None:
    storage = await SQLiteStorage.open(sqlite_url(database_path))
    await seed_user_data(
        storage,
        telegram_user_id=OTHER_TELEGRAM_USER_ID,
        instagram_user_id=OTHER_INSTAGRAM_USER_ID,
        chat_id=OTHER_GROUP_CHAT_ID,
        media_suffix="0002",
    )
    await storage.set_job_last_run("refresh", at=NOW)
    counts_before = count_rows_per_table(database_path)
    await seed_user_data(
        storage,
        telegram_user_id=TELEGRAM_USER_ID,
        instagram_user_id=INSTAGRAM_USER_ID,
        chat_id=GROUP_CHAT_ID,
        media_suffix="0001",
    )

    if method == "delete_instagram_user_data":
        assert await storage.delete_instagram_user_data(INSTAGRAM_USER_ID) == 1
    elif method == "delete_account_for_user":
        assert await storage.delete_account_for_user(TELEGRAM_USER_ID) is True
    else:
        await storage.delete_telegram_user(TELEGRAM_USER_ID)
    bystander = await storage.get_account_for_user(OTHER_TELEGRAM_USER_ID)
    await storage.close()
    counts_after = count_rows_per_table(database_path)

    expected = {
        table: count + KEPT_ROWS[method].get(table, 0) for table, count in counts_before.items()
    }
    assert counts_after == expected
    assert bystander is not None
    assert bystander.access_token == ACCESS_TOKEN


async def test_delete_telegram_user_removes_their_subscriptions(
    storage: SQLiteStorage,
) -> None:
    owner = await save_test_account(
        storage, telegram_user_id=OTHER_TELEGRAM_USER_ID, instagram_user_id=OTHER_INSTAGRAM_USER_ID
    )
    subscription, _ = await storage.subscribe(
        chat_id=GROUP_CHAT_ID, account_id=owner.id, subscribed_by=TELEGRAM_USER_ID, now=NOW
    )
    await storage.record_delivery(
        subscription_id=subscription.id, chat_id=GROUP_CHAT_ID, media_id="1", now=NOW
    )

    await storage.delete_telegram_user(TELEGRAM_USER_ID)

    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == []
    assert await storage.is_delivered(GROUP_CHAT_ID, "1") is False
    assert await storage.get_account(owner.id) == owner


# Atomicity


async def test_exception_in_transaction_rolls_back(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    with pytest.raises(RuntimeError, match="simulated crash"):
        async with storage._write() as connection:
            await connection.execute(
                "UPDATE accounts SET username = 'half_written' WHERE id = ?", (account.id,)
            )
            await connection.execute("DELETE FROM subscriptions")
            raise RuntimeError("simulated crash")

    assert await storage.get_account(account.id) == account
    assert await storage.count_accounts() == 1


async def test_failure_midway_keeps_account(
    storage: SQLiteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await save_test_account(storage)
    delete_accounts = sqlite_module._delete_accounts

    async def delete_then_fail(*args: object, **kwargs: object) -> int:
        await delete_accounts(*args, **kwargs)  # type: ignore[arg-type]
        raise OSError("simulated failure after the delete")

    monkeypatch.setattr(sqlite_module, "_delete_accounts", delete_then_fail)

    with pytest.raises(OSError, match="simulated failure"):
        await storage.delete_telegram_user(TELEGRAM_USER_ID)
    monkeypatch.undo()

    assert await storage.get_account(account.id) == account


async def test_cancelled_write_rolls_back(storage: SQLiteStorage) -> None:
    entered = asyncio.Event()

    async def write_and_wait() -> None:
        async with storage._write() as connection:
            await connection.execute(
                "INSERT INTO job_runs (job_name, last_run_at) VALUES ('cancelled', 'x')"
            )
            entered.set()
            await asyncio.Event().wait()

    writer = asyncio.create_task(write_and_wait())
    await entered.wait()
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer

    assert await storage.get_job_last_run("cancelled") is None
    await storage.set_job_last_run("after", at=NOW)
    assert await storage.get_job_last_run("after") == NOW


CRASHING_WRITER = """
import asyncio
import os
import sys

from storage.sqlite import SQLiteStorage


async def main() -> None:
    storage = await SQLiteStorage.open(sys.argv[1])
    async with storage._write() as connection:
        await connection.execute("UPDATE accounts SET username = 'half_written'")
        await connection.execute("DELETE FROM file_cache")
        os._exit(3)


asyncio.run(main())
"""


async def test_process_crash_mid_write_keeps_state(database_path: Path) -> None:
    storage = await SQLiteStorage.open(sqlite_url(database_path))
    account = await save_test_account(storage)
    await storage.cache_file_id(
        media_id="18000000000000001",
        kind="photo",
        file_id="AgACAgFakeFileId1",
        instagram_user_id=INSTAGRAM_USER_ID,
        now=NOW,
    )
    await storage.close()

    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT)}
    crashed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", textwrap.dedent(CRASHING_WRITER), sqlite_url(database_path)],
        env=environment,
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert crashed.returncode == 3, crashed.stderr.decode()

    reopened = await SQLiteStorage.open(sqlite_url(database_path))
    reread = await reopened.get_account(account.id)
    file_id = await reopened.get_cached_file_id("18000000000000001", "photo")
    await reopened.close()

    assert reread == account
    assert file_id == "AgACAgFakeFileId1"


# Concurrency


async def test_concurrent_writers_lose_nothing(file_storage: SQLiteStorage) -> None:
    account = await save_test_account(file_storage)

    async def write(index: int) -> int:
        await file_storage.set_job_last_run(f"job-{index}", at=NOW + timedelta(seconds=index))
        return await file_storage.record_refresh_failure(
            account.id, error=f"failure {index}", now=NOW, next_attempt_at=NOW
        )

    counts = await asyncio.gather(*(write(index) for index in range(50)))
    stored = await file_storage.get_account(account.id)

    assert sorted(counts) == list(range(1, 51))
    assert stored is not None
    assert stored.refresh_failures == 50
    for index in range(50):
        assert await file_storage.get_job_last_run(f"job-{index}") == NOW + timedelta(
            seconds=index
        )


async def test_close_waits_for_running_write(database_path: Path) -> None:
    storage = await SQLiteStorage.open(sqlite_url(database_path))
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow_write() -> None:
        async with storage._write() as connection:
            await connection.execute(
                "INSERT INTO job_runs (job_name, last_run_at) "
                "VALUES ('in-flight', '2025-03-01T12:00:00.000000Z')"
            )
            entered.set()
            await release.wait()

    writer = asyncio.create_task(slow_write())
    await entered.wait()
    closer = asyncio.create_task(storage.close())
    for _ in range(5):
        await asyncio.sleep(0)
    closed_early = closer.done()
    release.set()
    await writer
    await closer

    reopened = await SQLiteStorage.open(sqlite_url(database_path))
    last_run = await reopened.get_job_last_run("in-flight")
    await reopened.close()

    assert closed_early is False
    assert last_run == datetime(2025, 3, 1, 12, tzinfo=UTC)


# Durability and times


async def test_reopen_returns_same_data(database_path: Path) -> None:
    first = await SQLiteStorage.open(sqlite_url(database_path))
    await seed_user_data(
        first,
        telegram_user_id=TELEGRAM_USER_ID,
        instagram_user_id=INSTAGRAM_USER_ID,
        chat_id=GROUP_CHAT_ID,
        media_suffix="0001",
    )
    account = await first.get_account_for_user(TELEGRAM_USER_ID)
    assert account is not None
    subscriptions = await first.subscriptions_for_chat(GROUP_CHAT_ID)
    deletion = await first.get_deletion_request("del_0001")
    await first.close()

    second = await SQLiteStorage.open(sqlite_url(database_path))
    try:
        assert await second.get_account(account.id) == account
        assert await second.subscriptions_for_chat(GROUP_CHAT_ID) == subscriptions
        assert await second.get_deletion_request("del_0001") == deletion
        assert await second.get_cached_file_id("18000000000000001", "photo") == "AgACAgFake0001"
        assert await second.is_delivered(GROUP_CHAT_ID, "18000000000000001") is True
    finally:
        await second.close()


async def test_times_round_trip_as_aware_utc(storage: SQLiteStorage) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    issued = datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=india)
    expires = datetime(2025, 4, 1, 0, 0, 0, 1, tzinfo=UTC)
    connected = datetime(2025, 3, 1, 6, 0, tzinfo=timezone(timedelta(hours=-5)))

    saved = await save_test_account(storage, issued_at=issued, expires_at=expires, now=connected)
    reread = await storage.get_account(saved.id)
    row = await storage._fetch_one(
        "SELECT token_issued_at FROM accounts WHERE id = ?", (saved.id,)
    )

    assert reread is not None
    for value, expected in (
        (reread.token_issued_at, issued),
        (reread.token_expires_at, expires),
        (reread.connected_at, connected),
    ):
        assert value == expected
        assert value is not None
        assert value.tzinfo is UTC
    assert row is not None
    assert row[0] == "2025-01-31T18:29:59.999999Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row[0])


async def test_naive_time_rejected(storage: SQLiteStorage) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        await storage.set_job_last_run("refresh", at=datetime(2025, 3, 1, 12))

    with pytest.raises(ValueError, match="naive datetime"):
        await save_test_account(storage, now=datetime(2025, 3, 1, 12))

    assert await storage.count_accounts() == 0


async def test_status_values_match_enum(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    await storage.mark_needs_reconnect(account.id, error="code 190", now=NOW)
    row = await storage._fetch_one("SELECT status FROM accounts WHERE id = ?", (account.id,))

    assert row is not None
    assert row[0] == AccountStatus.NEEDS_RECONNECT.value
