"""Opening a SQLite database: URL forms, connection settings and the token key check."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import aiosqlite

from storage.base import StorageError
from storage.crypto import KEY_SETTING, TokenCipher, create_key_file, key_file_path, read_key_file

__all__ = [
    "MEMORY_DATABASE",
    "check_or_store_key",
    "connect",
    "default_cipher",
    "parse_sqlite_url",
]

logger = logging.getLogger(__name__)

MEMORY_DATABASE = ":memory:"
_URL_PREFIX = "sqlite:///"
_BUSY_TIMEOUT_MS = 5000
_KEY_CHECK_NAME = "token_key_check"


def parse_sqlite_url(url: str) -> Path | None:
    """Return the database path of a `sqlite:///` URL, or None for `sqlite:///:memory:`.

    `sqlite:///data/app.db` is relative to the working directory and `sqlite:////srv/app.db`
    is absolute.
    """
    if not url.startswith(_URL_PREFIX):
        scheme = url.split(":", 1)[0] if ":" in url else url
        # Only the scheme is quoted, because other URL forms can carry a password.
        raise StorageError(
            f"DATABASE_URL with scheme {scheme!r} is not supported; "
            "use sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    rest = url.removeprefix(_URL_PREFIX)
    if rest == MEMORY_DATABASE:
        return None
    if not rest or rest.endswith("/") or "?" in rest:
        raise StorageError(
            f"DATABASE_URL {url!r} does not name a database file; "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    return Path(rest)


async def connect(target: str, *, in_memory: bool) -> aiosqlite.Connection:
    """Open a connection with foreign keys, a busy timeout and, for files, WAL mode."""
    try:
        # isolation_level=None stops sqlite3 from opening transactions on its own, so only
        # the explicit BEGIN and COMMIT statements of the callers do.
        connection = await aiosqlite.connect(target, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(
            f"cannot open database {target}: {exc}; check the path and its permissions"
        ) from exc

    try:
        connection.row_factory = sqlite3.Row
        await connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}")
        await connection.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            async with connection.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            if row is None or str(row[0]).lower() != "wal":
                logger.warning(
                    "database %s stays in journal mode %s because WAL is unavailable there; "
                    "readers will wait for writers",
                    target,
                    row[0] if row is not None else "unknown",
                )
            # FULL makes each commit durable across power loss; writes are few, so the
            # extra fsync costs little.
            await connection.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as exc:
        await connection.close()
        raise StorageError(
            f"cannot open database {target}: {exc}; check the path and its permissions"
        ) from exc
    except BaseException:
        await connection.close()
        raise
    return connection


async def default_cipher(connection: aiosqlite.Connection, path: Path | None) -> TokenCipher:
    """Return the cipher for a database opened without an explicit key."""
    if path is None:
        return TokenCipher.generate()

    key_path = key_file_path(path)
    source = f"the key file {key_path} (used when {KEY_SETTING} is unset)"
    key = read_key_file(key_path)
    if key is not None:
        return TokenCipher(key, source=source)

    if await _read_key_check(connection) is not None:
        raise StorageError(
            f"the key file {key_path} is missing, but database {path} contains encrypted tokens; "
            f"restore the key file or set {KEY_SETTING} to the key the database was created with"
        )
    return TokenCipher(create_key_file(key_path), source=source)


async def _read_key_check(connection: aiosqlite.Connection) -> str | None:
    async with connection.execute(
        "SELECT value FROM storage_meta WHERE name = ?", (_KEY_CHECK_NAME,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def check_or_store_key(
    connection: aiosqlite.Connection, cipher: TokenCipher, description: str, *, key_source: str
) -> None:
    """Verify that `cipher` decrypts this database's tokens, or record its check value."""
    key_check = await _read_key_check(connection)
    if key_check is not None:
        if cipher.matches_key_check(key_check):
            return
        raise StorageError(
            f"{key_source} cannot decrypt the tokens stored in database {description}; "
            "use the key the database was created with"
        )

    try:
        await connection.execute("BEGIN IMMEDIATE")
        await connection.execute(
            "INSERT OR IGNORE INTO storage_meta (name, value) VALUES (?, ?)",
            (_KEY_CHECK_NAME, cipher.make_key_check()),
        )
        await connection.execute("COMMIT")
    except sqlite3.Error as exc:
        if connection.in_transaction:
            await connection.execute("ROLLBACK")
        raise StorageError(f"cannot store the key check in database {description}: {exc}") from exc
    # Another process may have stored its check value first.
    stored = await _read_key_check(connection)
    if stored is None or not cipher.matches_key_check(stored):
        raise StorageError(
            f"another process opened database {description} with a key other than {key_source}"
        )
