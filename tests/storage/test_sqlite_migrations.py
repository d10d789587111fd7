"""Schema migrations, URL forms and connection settings of the SQLite storage."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import pytest
from storage_helpers import read_schema, save_test_account, sqlite_url

from storage import StorageError, open_storage
from storage import migrations as migrations_package
from storage.migrations import (
    Migration,
    apply_migrations,
    load_migrations,
    read_schema_version,
    split_statements,
)
from storage.sqlite import SQLiteStorage, parse_sqlite_url

MIGRATIONS = load_migrations()
LATEST_VERSION = MIGRATIONS[-1].version


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    connection.close()
    return version


def set_user_version(path: Path, version: int) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {version:d}")
    connection.close()


# Loading


def test_migrations_load_every_shipped_file() -> None:
    directory = Path(migrations_package.__file__).parent
    shipped = sorted(path.name for path in directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))

    loaded = [f"{migration.version:04d}_{migration.name}.sql" for migration in MIGRATIONS]

    assert loaded == shipped
    assert [migration.version for migration in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    assert all(migration.statements for migration in MIGRATIONS)


def test_migrations_reject_gap_in_numbering(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (tmp_path / "0003_third.sql").write_text("CREATE TABLE c (x INTEGER);\n")

    with pytest.raises(StorageError, match="expected version 2"):
        load_migrations(tmp_path)


def test_split_statements_multiline_and_comments() -> None:
    script = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE a (\n"
        "    x INTEGER -- trailing; comment\n"
        ");\n"
        "\n"
        "CREATE INDEX a_x ON a (x);\n"
        "-- closing comment\n"
    )

    statements = split_statements(script, source="test.sql")

    assert len(statements) == 2
    assert statements[0].endswith("CREATE TABLE a (\n    x INTEGER -- trailing; comment\n);")
    assert statements[1] == "CREATE INDEX a_x ON a (x);"


def test_split_statements_rejects_incomplete_statement() -> None:
    with pytest.raises(StorageError, match=r"broken\.sql ends with an incomplete"):
        split_statements("CREATE TABLE a (x INTEGER);\nCREATE TABLE b (\n", source="broken.sql")


# Applying


async def test_open_migrates_empty_database(database_path: Path) -> None:
    opened = await SQLiteStorage.open(sqlite_url(database_path))
    await opened.close()

    schema = read_schema(database_path)

    assert user_version(database_path) == LATEST_VERSION
    for table in (
        "telegram_users",
        "accounts",
        "oauth_states",
        "browsing_sessions",
        "file_cache",
        "subscriptions",
        "deliveries",
        "deletion_requests",
        "job_runs",
    ):
        assert table in schema


@pytest.mark.parametrize("start_version", range(LATEST_VERSION))
async def test_open_migrates_from_older_version(tmp_path: Path, start_version: int) -> None:
    fresh_path = tmp_path / "fresh.db"
    fresh = await SQLiteStorage.open(sqlite_url(fresh_path))
    await fresh.close()
    old_path = tmp_path / "old.db"
    connection = await aiosqlite.connect(old_path, isolation_level=None)
    await apply_migrations(connection, MIGRATIONS[:start_version])
    await connection.close()

    assert user_version(old_path) == start_version
    migrated = await SQLiteStorage.open(sqlite_url(old_path))
    await migrated.close()

    assert user_version(old_path) == LATEST_VERSION
    assert read_schema(old_path) == read_schema(fresh_path)


async def test_reopen_is_idempotent(database_path: Path) -> None:
    first = await SQLiteStorage.open(sqlite_url(database_path))
    account = await save_test_account(first)
    await first.close()
    schema_before = read_schema(database_path)

    second = await SQLiteStorage.open(sqlite_url(database_path))
    reread = await second.get_account(account.id)
    await second.close()

    assert user_version(database_path) == LATEST_VERSION
    assert read_schema(database_path) == schema_before
    assert reread == account


async def test_open_rejects_newer_schema(database_path: Path) -> None:
    opened = await SQLiteStorage.open(sqlite_url(database_path))
    await opened.close()
    newer = LATEST_VERSION + 1
    set_user_version(database_path, newer)

    with pytest.raises(StorageError) as raised:
        await SQLiteStorage.open(sqlite_url(database_path))

    message = str(raised.value)
    assert f"database schema version {newer} is newer than this Gramlink" in message
    assert f"({LATEST_VERSION})" in message
    assert "upgrade Gramlink or restore a backup" in message
    assert user_version(database_path) == newer


async def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "partial.db"
    good = Migration(1, "good", ("CREATE TABLE kept (x INTEGER);",))
    bad = Migration(
        2,
        "bad",
        ("CREATE TABLE dropped_with_rollback (x INTEGER);", "CREATE TABLE kept (x INTEGER);"),
    )
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        with pytest.raises(StorageError, match=r"0002_bad\.sql failed"):
            await apply_migrations(connection, [good, bad])
        version = await read_schema_version(connection)
        in_transaction = connection.in_transaction
    finally:
        await connection.close()

    assert version == 1
    assert not in_transaction
    assert "kept" in read_schema(path)
    assert "dropped_with_rollback" not in read_schema(path)


async def test_concurrent_opens_migrate_once(database_path: Path) -> None:
    first, second = await asyncio.gather(
        SQLiteStorage.open(sqlite_url(database_path)),
        SQLiteStorage.open(sqlite_url(database_path)),
    )
    account = await save_test_account(first)
    reread = await second.get_account(account.id)
    await first.close()
    await second.close()

    assert user_version(database_path) == LATEST_VERSION
    assert reread == account


# URLs and connection settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/gramlink.db", Path("data/gramlink.db")),
        ("sqlite:////srv/gramlink/gramlink.db", Path("/srv/gramlink/gramlink.db")),
        ("sqlite:///:memory:", None),
    ],
)
def test_parse_sqlite_url_forms(url: str, expected: Path | None) -> None:
    assert parse_sqlite_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://gramlink:hunter2@db.internal/gramlink",
        "sqlite://relative.db",
        "sqlite:///",
        "sqlite:///data/",
        "sqlite:///data/gramlink.db?mode=ro",
        "gramlink.db",
    ],
)
def test_parse_sqlite_url_rejects(url: str) -> None:
    with pytest.raises(StorageError, match="sqlite:///") as raised:
        parse_sqlite_url(url)

    assert "hunter2" not in str(raised.value)


async def test_open_storage_creates_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "gramlink.db"

    opened = await open_storage(sqlite_url(path))
    answered = await opened.ping()
    await opened.close()

    assert answered
    assert path.is_file()


async def test_relative_url_resolves_from_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    opened = await open_storage("sqlite:///data/gramlink.db")
    await opened.close()

    assert (tmp_path / "data" / "gramlink.db").is_file()
    assert (tmp_path / "data" / "gramlink.db.key").is_file()


async def test_file_database_pragmas(file_storage: SQLiteStorage) -> None:
    async with file_storage._read() as connection:
        settings = {}
        for pragma in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous"):
            async with connection.execute(f"PRAGMA {pragma}") as cursor:
                row = await cursor.fetchone()
            assert row is not None
            settings[pragma] = row[0]

    assert settings["journal_mode"] == "wal"
    assert settings["foreign_keys"] == 1
    assert settings["busy_timeout"] > 0
    assert settings["synchronous"] == 2  # FULL


async def test_memory_database_has_foreign_keys(storage: SQLiteStorage) -> None:
    async with storage._read() as connection, connection.execute("PRAGMA foreign_keys") as cursor:
        row = await cursor.fetchone()

    assert row is not None
    assert row[0] == 1


async def test_closed_storage_raises_and_ping_fails(storage: SQLiteStorage) -> None:
    await storage.close()

    with pytest.raises(StorageError, match="is closed"):
        await storage.count_accounts()
    assert await storage.ping() is False
    await storage.close()
