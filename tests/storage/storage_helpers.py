"""Values and helpers shared by the storage tests."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import Account, Storage

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

TELEGRAM_USER_ID = 100001
OTHER_TELEGRAM_USER_ID = 100002
INSTAGRAM_USER_ID = "17841400000000001"
OTHER_INSTAGRAM_USER_ID = "17841400000000002"
GROUP_CHAT_ID = -1001000000001
OTHER_GROUP_CHAT_ID = -1001000000002

# Shaped like an Instagram long-lived token, but fake.
ACCESS_TOKEN = "IGAAFakeLongLivedTokenForStorageTests0001"
NEW_ACCESS_TOKEN = "IGAAFakeLongLivedTokenForStorageTests0002"


def sqlite_url(path: Path) -> str:
    """Return the `sqlite:///` URL of an absolute path."""
    return f"sqlite:///{path}"


async def save_test_account(
    storage: Storage,
    *,
    telegram_user_id: int = TELEGRAM_USER_ID,
    instagram_user_id: str = INSTAGRAM_USER_ID,
    access_token: str = ACCESS_TOKEN,
    issued_at: datetime = NOW - timedelta(days=55),
    expires_at: datetime = NOW + timedelta(days=5),
    now: datetime = NOW,
) -> Account:
    """Connect an account with fake but realistic values."""
    return await storage.save_account(
        telegram_user_id=telegram_user_id,
        instagram_user_id=instagram_user_id,
        username=f"user_{instagram_user_id[-4:]}",
        account_type="BUSINESS",
        access_token=access_token,
        token_issued_at=issued_at,
        token_expires_at=expires_at,
        now=now,
    )


def count_rows_per_table(path: Path) -> dict[str, int]:
    """Return the row count of every table in the database file, read on a new connection."""
    with sqlite3.connect(path) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in names
        }
    connection.close()
    return counts


def read_schema(path: Path) -> dict[str, str]:
    """Return the SQL of every table and index in the database file, by name."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    connection.close()
    return {name: sql for name, sql in rows}
