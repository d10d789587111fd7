"""Fixtures for the storage tests: in-memory and file databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from storage_helpers import sqlite_url

from storage.sqlite import SQLiteStorage


@pytest.fixture
def encryption_key() -> str:
    """Return a fresh Fernet key."""
    return Fernet.generate_key().decode()


@pytest.fixture
async def storage(encryption_key: str) -> AsyncIterator[SQLiteStorage]:
    """Yield a migrated in-memory database."""
    opened = await SQLiteStorage.open("sqlite:///:memory:", encryption_key=encryption_key)
    yield opened
    await opened.close()


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    """Return where a file database for this test lives."""
    return tmp_path / "data" / "gramlink.db"


@pytest.fixture
async def file_storage(database_path: Path) -> AsyncIterator[SQLiteStorage]:
    """Yield a migrated file database whose key lives in a key file beside it."""
    opened = await SQLiteStorage.open(sqlite_url(database_path))
    yield opened
    await opened.close()
