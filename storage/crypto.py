"""Encryption of access tokens at rest, and the key file that contains the key by default."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from storage.base import StorageError

__all__ = [
    "KEY_SETTING",
    "TokenCipher",
    "create_key_file",
    "key_file_path",
    "read_key_file",
]

logger = logging.getLogger(__name__)

KEY_SETTING = "TOKEN_ENCRYPTION_KEY"

_VALID_KEY_HELP = (
    "a valid key is 32 random bytes in URL-safe base64, 44 characters ending in '='; "
    "generate one with: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)

# A known plaintext stored encrypted in the database, so that opening it with the wrong key
# fails at start-up instead of when a token is first read.
_KEY_CHECK_PLAINTEXT = "gramlink token key check"


class TokenCipher:
    """Fernet cipher for tokens, whose repr never shows the key."""

    __slots__ = ("_fernet",)

    def __init__(self, key: str | bytes, *, source: str = KEY_SETTING) -> None:
        try:
            self._fernet = Fernet(key.strip())
        except (ValueError, TypeError):
            # The original error is not chained, because it could quote the key.
            raise StorageError(f"{source} is not a valid Fernet key: {_VALID_KEY_HELP}") from None

    @classmethod
    def generate(cls) -> TokenCipher:
        """Create a cipher with a new random key that lives only in this object."""
        return cls(Fernet.generate_key())

    def __repr__(self) -> str:
        return "TokenCipher(key=<hidden>)"

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a token into URL-safe base64 text."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt text made by `encrypt`.

        Raises:
            StorageError: the text was encrypted with another key or is damaged.
        """
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise StorageError(
                f"a stored token cannot be decrypted with the configured {KEY_SETTING}"
            ) from None

    def make_key_check(self) -> str:
        """Return the encrypted check value to store beside the tokens."""
        return self.encrypt(_KEY_CHECK_PLAINTEXT)

    def matches_key_check(self, key_check: str) -> bool:
        """Return whether a stored check value was encrypted with this cipher's key."""
        try:
            return self.decrypt(key_check) == _KEY_CHECK_PLAINTEXT
        except StorageError:
            return False


def key_file_path(database_path: Path) -> Path:
    """Return where the key of a database lives by default: `<database path>.key`."""
    return database_path.with_name(database_path.name + ".key")


def read_key_file(path: Path) -> str | None:
    """Return the key stored in `path`, or None if the file does not exist."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as exc:
        raise StorageError(
            f"cannot read the key file {path}: {exc}; check that it is a readable text file"
        ) from exc

    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "key file %s can be read by other users (mode %o); run chmod 600 on it",
            path,
            stat.S_IMODE(mode),
        )
    return text


def create_key_file(path: Path) -> str:
    """Write a new random key to `path`, readable only by the owner, and return it.

    If another process created the file first, its key is returned instead.
    """
    key = Fernet.generate_key().decode("ascii")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # NOTE: a process that starts in the same instant may find the file still empty.
        # It then fails with an invalid-key error, and starting it again succeeds.
        existing = read_key_file(path)
        if existing is None:
            raise StorageError(
                f"the key file {path} was deleted while it was being read; start again"
            ) from None
        return existing
    except OSError as exc:
        raise StorageError(f"cannot create the key file {path}: {exc}") from exc

    with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
        key_file.write(key + "\n")
        key_file.flush()
        os.fsync(key_file.fileno())
    logger.info("created the token encryption key file %s; back it up with the database", path)
    return key
