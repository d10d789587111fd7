"""Storage: the due-for-refresh query over 100,000 accounts, with and without its index.

Two figures. The SQL alone, run on a plain sqlite3 connection, against the same SQL with
`NOT INDEXED`, which makes SQLite scan the table and sort. Then the whole
`accounts_due_for_refresh()` call (rows decrypted into `Account` objects) against the same
call on a copy of the database whose index was dropped. Both ask for one batch of the
refresh sweep.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.accounts_db import AccountsDatabase, build_accounts_database
from bench.report import Figure, median
from bot.services.refresh import DEFAULT_BATCH_SIZE
from storage import open_storage
from storage.sqlite import SQLiteStorage

__all__ = ["run"]

EXPIRES_WITHIN = timedelta(days=10)
MIN_TOKEN_AGE = timedelta(hours=24)
# The index that the due-for-refresh query is meant to use (migration 0001).
DUE_INDEX = "accounts_status_expiry"


def _time_sql(path: Path, sql: str, parameters: dict[str, Any], repeats: int) -> float:
    """Return the median seconds to run `sql` and fetch all rows, on a read-only connection."""
    samples = []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        connection.execute(sql, parameters).fetchall()  # warm the page cache
        for _ in range(repeats):
            started = time.perf_counter()
            connection.execute(sql, parameters).fetchall()
            samples.append(time.perf_counter() - started)
    return median(samples)


async def _time_method(url: str, key: str, now: datetime, repeats: int) -> tuple[float, str, int]:
    """Time `accounts_due_for_refresh()` and return median seconds, query plan and row count."""
    storage = await open_storage(url, encryption_key=key)
    try:
        plan = await storage.explain_due_for_refresh()  # type: ignore[attr-defined]
        samples = []
        rows = 0
        for _ in range(repeats + 1):
            started = time.perf_counter()
            due = await storage.accounts_due_for_refresh(
                now=now,
                expires_within=EXPIRES_WITHIN,
                min_age=MIN_TOKEN_AGE,
                limit=DEFAULT_BATCH_SIZE,
            )
            samples.append(time.perf_counter() - started)
            rows = len(due)
    finally:
        await storage.close()
    return median(samples[1:]), plan, rows


async def _due_for_refresh_query(
    database: AccountsDatabase, now: datetime
) -> tuple[str, dict[str, Any]]:
    storage = await SQLiteStorage.open(database.url, encryption_key=database.encryption_key)
    try:
        return storage.due_for_refresh_query(
            now=now,
            expires_within=EXPIRES_WITHIN,
            min_age=MIN_TOKEN_AGE,
            limit=DEFAULT_BATCH_SIZE,
        )
    finally:
        await storage.close()


def _copy_without_index(database: AccountsDatabase) -> Path:
    copy = database.directory / "accounts-no-index.db"
    shutil.copyfile(database.path, copy)
    with closing(sqlite3.connect(copy)) as connection:
        connection.execute(f"DROP INDEX {DUE_INDEX}")
        connection.commit()
    return copy


async def run(*, smoke: bool) -> list[Figure]:
    """Build the database, then time the query and the storage call with and without index."""
    count = 2_000 if smoke else 100_000
    repeats = 3 if smoke else 25
    now = datetime.now(UTC)
    database = await build_accounts_database(count, now=now)
    try:
        sql, parameters = await _due_for_refresh_query(database, now)
        indexed_sql = _time_sql(database.path, sql, parameters, repeats)
        unindexed = sql.replace("FROM accounts", "FROM accounts NOT INDEXED")
        if unindexed == sql:
            raise RuntimeError("the due-for-refresh SQL has no `FROM accounts` to disable")
        unindexed_sql = _time_sql(database.path, unindexed, parameters, repeats)

        indexed_call, plan, rows = await _time_method(
            database.url, database.encryption_key, now, repeats
        )
        copy = _copy_without_index(database)
        unindexed_call, unindexed_plan, _ = await _time_method(
            f"sqlite:///{copy}", database.encryption_key, now, repeats
        )
    finally:
        database.remove()

    size = f"{count:,} accounts, LIMIT {DEFAULT_BATCH_SIZE}, {rows} rows"
    return [
        Figure(
            "due-for-refresh SQL",
            indexed_sql * 1000,
            "ms",
            "NOT INDEXED",
            unindexed_sql * 1000,
            note=f"{size}; plan: {plan.replace(chr(10), '; ')}",
        ),
        Figure(
            "accounts_due_for_refresh() call",
            indexed_call * 1000,
            "ms",
            "without index",
            unindexed_call * 1000,
            note=f"plan without index: {unindexed_plan.replace(chr(10), '; ')}",
        ),
    ]
