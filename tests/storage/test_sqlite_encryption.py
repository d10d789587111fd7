"""Token encryption at rest: keys, key files and what reaches the database file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from storage_helpers import (
    ACCESS_TOKEN,
    NEW_ACCESS_TOKEN,
    NOW,
    OTHER_TELEGRAM_USER_ID,
    save_test_account,
    sqlite_url,
)

from storage import StorageError
from storage.crypto import TokenCipher, create_key_file, key_file_path
from storage.sqlite import SQLiteStorage


def database_files(database_path: Path) -> list[Path]:
    """Return the database file with its -wal and -shm companions, where they exist."""
    return sorted(database_path.parent.glob(database_path.name + "*"))


def list_directory(directory: Path) -> list[str]:
    """Return the names of the entries in a directory."""
    return sorted(path.name for path in directory.iterdir())


def test_cipher_round_trip_and_repr(encryption_key: str) -> None:
    cipher = TokenCipher(encryption_key)

    encrypted = cipher.encrypt(ACCESS_TOKEN)

    assert ACCESS_TOKEN not in encrypted
    assert cipher.decrypt(encrypted) == ACCESS_TOKEN
    assert encryption_key not in repr(cipher)
    assert "hidden" in repr(cipher)


def test_cipher_rejects_foreign_ciphertext(encryption_key: str) -> None:
    foreign = TokenCipher(Fernet.generate_key()).encrypt(ACCESS_TOKEN)

    with pytest.raises(StorageError, match="cannot be decrypted") as raised:
        TokenCipher(encryption_key).decrypt(foreign)

    assert ACCESS_TOKEN not in str(raised.value)
    assert raised.value.__cause__ is None


@pytest.mark.parametrize(
    "malformed_key",
    ["not-a-key", "c2hvcnQ=", "!" * 44, Fernet.generate_key().decode()[:-2]],
)
async def test_open_rejects_malformed_key(malformed_key: str) -> None:
    with pytest.raises(StorageError) as raised:
        await SQLiteStorage.open("sqlite:///:memory:", encryption_key=malformed_key)

    message = str(raised.value)
    assert "TOKEN_ENCRYPTION_KEY" in message
    assert "44 characters" in message
    assert "Fernet.generate_key()" in message
    assert malformed_key not in message
    assert raised.value.__cause__ is None


async def test_blank_key_counts_as_unset(database_path: Path) -> None:
    opened = await SQLiteStorage.open(sqlite_url(database_path), encryption_key="  ")
    await opened.close()

    assert key_file_path(database_path).is_file()


async def test_key_file_created_with_mode_0600(database_path: Path) -> None:
    opened = await SQLiteStorage.open(sqlite_url(database_path))
    await opened.close()

    key_path = database_path.parent / "gramlink.db.key"
    mode = stat.S_IMODE(key_path.stat().st_mode)
    key = key_path.read_text().strip()

    assert mode == 0o600
    assert TokenCipher(key).decrypt(TokenCipher(key).encrypt("x")) == "x"


async def test_key_file_reused_on_reopen(database_path: Path) -> None:
    first = await SQLiteStorage.open(sqlite_url(database_path))
    account = await save_test_account(first)
    await first.close()
    key_before = key_file_path(database_path).read_text()

    second = await SQLiteStorage.open(sqlite_url(database_path))
    reread = await second.get_account(account.id)
    await second.close()

    assert key_file_path(database_path).read_text() == key_before
    assert reread is not None
    assert reread.access_token == ACCESS_TOKEN


def test_create_key_file_keeps_existing_key(tmp_path: Path) -> None:
    key_path = tmp_path / "app.db.key"
    existing = Fernet.generate_key().decode()
    key_path.write_text(existing + "\n")

    assert create_key_file(key_path) == existing


async def test_wrong_key_rejected_on_open(database_path: Path) -> None:
    right_key = Fernet.generate_key().decode()
    wrong_key = Fernet.generate_key().decode()
    first = await SQLiteStorage.open(sqlite_url(database_path), encryption_key=right_key)
    await save_test_account(first)
    await first.close()

    with pytest.raises(StorageError) as raised:
        await SQLiteStorage.open(sqlite_url(database_path), encryption_key=wrong_key)

    message = str(raised.value)
    assert "TOKEN_ENCRYPTION_KEY cannot decrypt the tokens" in message
    assert right_key not in message
    assert wrong_key not in message


async def test_wrong_key_file_rejected_on_open(database_path: Path) -> None:
    first = await SQLiteStorage.open(sqlite_url(database_path))
    await first.close()
    key_file_path(database_path).write_text(Fernet.generate_key().decode())

    with pytest.raises(StorageError, match=r"the key file .* cannot decrypt the tokens"):
        await SQLiteStorage.open(sqlite_url(database_path))


async def test_malformed_key_file_rejected(database_path: Path) -> None:
    database_path.parent.mkdir(parents=True)
    key_file_path(database_path).write_text("garbage\n")

    with pytest.raises(StorageError) as raised:
        await SQLiteStorage.open(sqlite_url(database_path))

    message = str(raised.value)
    assert "gramlink.db.key" in message
    assert "TOKEN_ENCRYPTION_KEY" in message
    assert "garbage" not in message


async def test_missing_key_file_not_replaced(database_path: Path) -> None:
    first = await SQLiteStorage.open(sqlite_url(database_path))
    await save_test_account(first)
    await first.close()
    key_file_path(database_path).unlink()

    with pytest.raises(StorageError, match=r"key file .* is missing"):
        await SQLiteStorage.open(sqlite_url(database_path))

    assert not key_file_path(database_path).exists()


async def test_explicit_key_opens_database_made_with_key_file(database_path: Path) -> None:
    first = await SQLiteStorage.open(sqlite_url(database_path))
    account = await save_test_account(first)
    await first.close()
    key = key_file_path(database_path).read_text().strip()

    second = await SQLiteStorage.open(sqlite_url(database_path), encryption_key=key)
    reread = await second.get_account(account.id)
    await second.close()

    assert reread is not None
    assert reread.access_token == ACCESS_TOKEN


async def test_memory_database_without_key_gets_ephemeral_key(tmp_path: Path) -> None:
    opened = await SQLiteStorage.open("sqlite:///:memory:")
    account = await save_test_account(opened)
    await opened.close()

    assert account.access_token == ACCESS_TOKEN
    assert list_directory(tmp_path) == []


async def test_database_files_hold_no_plaintext_token(database_path: Path) -> None:
    opened = await SQLiteStorage.open(sqlite_url(database_path))
    account = await save_test_account(opened)
    await save_test_account(
        opened, telegram_user_id=OTHER_TELEGRAM_USER_ID, access_token=NEW_ACCESS_TOKEN
    )
    await opened.update_token(
        account.id,
        access_token=NEW_ACCESS_TOKEN,
        token_issued_at=NOW,
        token_expires_at=NOW,
        now=NOW,
    )
    files_while_open = database_files(database_path)
    contents_while_open = {path.name: path.read_bytes() for path in files_while_open}
    await opened.close()
    contents_after_close = {path.name: path.read_bytes() for path in database_files(database_path)}

    assert "gramlink.db-wal" in contents_while_open
    for contents in (contents_while_open, contents_after_close):
        for name, data in contents.items():
            assert ACCESS_TOKEN.encode() not in data, name
            assert NEW_ACCESS_TOKEN.encode() not in data, name
            assert b"FakeLongLivedToken" not in data, name


async def test_account_repr_hides_token(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    assert ACCESS_TOKEN not in repr(account)
