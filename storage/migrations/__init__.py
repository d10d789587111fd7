"""Schema migrations: numbered SQL files in this package, applied in order on open.

A file named `NNNN_description.sql` moves the schema from version NNNN - 1 to NNNN. The
version of a database is its `PRAGMA user_version`; 0 means empty. Each statement in a file
ends at the end of a line.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import aiosqlite

from storage.base import StorageError

__all__ = ["Migration", "apply_migrations", "load_migrations", "read_schema_version"]

logger = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: the version it produces and the statements that get there."""

    version: int
    name: str
    statements: tuple[str, ...]


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """Read every migration in `directory` (by default this package), ordered by version.

    Raises:
        StorageError: a version is missing or appears twice, or a file ends mid-statement.
    """
    migrations: list[Migration] = []
    if directory is None:
        directory = resources.files(__package__)
    for entry in directory.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        statements = split_statements(entry.read_text(encoding="utf-8"), source=entry.name)
        migrations.append(Migration(int(match["version"]), match["name"], statements))

    migrations.sort(key=lambda migration: migration.version)
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise StorageError(
                f"schema migrations are not numbered 1, 2, 3, …: expected version {expected}, "
                f"found {migration.version:04d}_{migration.name}.sql"
            )
    return migrations


def split_statements(script: str, *, source: str) -> tuple[str, ...]:
    """Split an SQL script into statements, each ending at the end of a line."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines(keepends=True):
        buffer.append(line)
        text = "".join(buffer)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            buffer.clear()

    leftover = [line for line in buffer if line.strip() and not line.lstrip().startswith("--")]
    if leftover:
        raise StorageError(f"migration {source} ends with an incomplete SQL statement")
    return tuple(statements)


async def read_schema_version(connection: aiosqlite.Connection) -> int:
    """Return the schema version recorded in the database file."""
    async with connection.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def apply_migrations(connection: aiosqlite.Connection, migrations: list[Migration]) -> int:
    """Bring the database up to the last of `migrations`; return the resulting version.

    Each migration runs in its own `BEGIN IMMEDIATE` transaction together with the version
    bump, so a failed step leaves the database at the previous version. The version is read
    again inside the transaction, so two processes opening the same file apply a step once.

    Raises:
        StorageError: the database is newer than `migrations`, or a step failed.
    """
    latest = migrations[-1].version if migrations else 0
    current = await read_schema_version(connection)
    if current > latest:
        raise StorageError(
            f"database schema version {current} is newer than this Gramlink ({latest}); "
            "upgrade Gramlink or restore a backup"
        )

    for migration in migrations:
        if migration.version <= current:
            continue
        current = await _apply_one(connection, migration)
    return current


async def _apply_one(connection: aiosqlite.Connection, migration: Migration) -> int:
    await connection.execute("BEGIN IMMEDIATE")
    try:
        current = await read_schema_version(connection)
        if current >= migration.version:
            await connection.execute("COMMIT")
            return current
        for statement in migration.statements:
            await connection.execute(statement)
        # PRAGMA takes no bound parameters; the version is an int parsed from the file name.
        await connection.execute(f"PRAGMA user_version = {migration.version:d}")
        await connection.execute("COMMIT")
    except sqlite3.Error as exc:
        await _rollback(connection)
        raise StorageError(
            f"schema migration {migration.version:04d}_{migration.name}.sql failed: {exc}"
        ) from exc
    except BaseException:
        await _rollback(connection)
        raise

    logger.info("applied schema migration %04d_%s", migration.version, migration.name)
    return migration.version


async def _rollback(connection: aiosqlite.Connection) -> None:
    if connection.in_transaction:
        await connection.execute("ROLLBACK")
