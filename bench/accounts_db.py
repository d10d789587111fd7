"""A temporary SQLite database filled with many connected accounts, for the storage benchmarks.

Saving 100,000 accounts one by one through `Storage.save_account` would take about two
minutes (1.2 ms per call, measured on a 2-vCPU AMD EPYC virtual machine). So the builder
saves a template of up to 1,000 accounts through the storage layer, with real encryption
and the real time format, and then copies those rows in SQL with new user ids. Token
expiries are spread evenly over the next 60 days, so about a sixth of the active accounts
fall inside the default 10-day refresh window. About 5% of the accounts need a reconnect
and 2% are disconnected.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from storage import Storage, open_storage

__all__ = ["AccountsDatabase", "build_accounts_database"]

TOKEN_LIFETIME = timedelta(days=60)
_TEMPLATE_SIZE = 1000
# Copies of template user ids are offset by multiples of this, far above the template ids.
_USER_ID_STRIDE = 10_000_000


@dataclass(frozen=True, slots=True)
class AccountsDatabase:
    """A built database file, the Fernet key of its tokens, and its account count."""

    directory: Path
    path: Path
    encryption_key: str
    accounts: int

    @property
    def url(self) -> str:
        """`DATABASE_URL` of the file."""
        return f"sqlite:///{self.path}"

    def remove(self) -> None:
        """Delete the temporary directory with the database and its WAL files."""
        shutil.rmtree(self.directory, ignore_errors=True)


async def build_accounts_database(count: int, *, now: datetime) -> AccountsDatabase:
    """Create a temporary database with `count` accounts. The caller must `remove()` it."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    directory = Path(tempfile.mkdtemp(prefix="gramlink-bench-"))
    path = directory / "accounts.db"
    key = Fernet.generate_key().decode()
    template_size = min(count, _TEMPLATE_SIZE)

    storage = await open_storage(f"sqlite:///{path}", encryption_key=key)
    try:
        for index in range(template_size):
            await _save_template_account(storage, index, template_size, now)
    finally:
        await storage.close()

    _copy_template(path, template_size, count)
    return AccountsDatabase(directory, path, key, count)


async def _save_template_account(storage: Storage, index: int, size: int, now: datetime) -> None:
    expires_at = now + TOKEN_LIFETIME * (index + 0.5) / size
    account = await storage.save_account(
        telegram_user_id=1 + index,
        instagram_user_id=str(17_841_400_000_000_000 + index),
        username=f"bench_user_{index}",
        account_type="MEDIA_CREATOR",
        access_token=f"IGQVJbenchToken{index:06d}",
        token_issued_at=expires_at - TOKEN_LIFETIME,
        token_expires_at=expires_at,
        now=now,
    )
    if index % 20 == 7:
        await storage.mark_needs_reconnect(account.id, error="benchmark: token revoked", now=now)
    elif index % 50 == 11:
        await storage.disconnect_instagram_user(account.instagram_user_id, now=now)


def _copy_template(path: Path, template_size: int, count: int) -> None:
    """Copy the template rows until the table contains `count` accounts.

    The column lists come from the live schema, so columns added by later migrations are
    copied too.
    """
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA foreign_keys = ON")
        user_columns = _columns(connection, "telegram_users")
        account_columns = [name for name in _columns(connection, "accounts") if name != "id"]
        copies = -(-count // template_size) - 1

        user_values = [
            f"t.{name} + copy.n * :stride" if name == "telegram_user_id" else f"t.{name}"
            for name in user_columns
        ]
        connection.execute(
            _with_copies(
                f"INSERT INTO telegram_users ({', '.join(user_columns)}) "
                f"SELECT {', '.join(user_values)} FROM telegram_users AS t CROSS JOIN copy"
            ),
            {"copies": copies, "stride": _USER_ID_STRIDE},
        )

        account_values = []
        for name in account_columns:
            if name == "telegram_user_id":
                account_values.append("a.telegram_user_id + copy.n * :stride")
            elif name in ("instagram_user_id", "username"):
                account_values.append(f"a.{name} || '_' || copy.n")
            else:
                account_values.append(f"a.{name}")
        connection.execute(
            _with_copies(
                f"INSERT INTO accounts ({', '.join(account_columns)}) "
                f"SELECT {', '.join(account_values)} FROM accounts AS a CROSS JOIN copy"
            ),
            {"copies": copies, "stride": _USER_ID_STRIDE},
        )

        # The last copy may overshoot `count`; drop the newest surplus rows.
        connection.execute(
            "DELETE FROM telegram_users WHERE telegram_user_id IN ("
            " SELECT telegram_user_id FROM accounts ORDER BY id DESC"
            " LIMIT max(0, (SELECT count(*) FROM accounts) - :count))",
            {"count": count},
        )
        connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _with_copies(insert_select: str) -> str:
    """Prefix an `INSERT ... SELECT` with a CTE `copy(n)` counting 1 to `:copies`."""
    return (
        "WITH RECURSIVE copy(n) AS (SELECT 1 WHERE :copies >= 1 "
        "UNION ALL SELECT n + 1 FROM copy WHERE n < :copies) " + insert_select
    )


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in connection.execute(f"PRAGMA table_info({table})")]
