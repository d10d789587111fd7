"""Database layer: the only code that talks to the database."""

from __future__ import annotations

from storage.base import (
    Account,
    AccountStatus,
    BrowsingSession,
    DeletionRequest,
    DeletionStatus,
    OAuthState,
    OAuthStateClaim,
    Storage,
    StorageError,
    Subscription,
)

__all__ = [
    "Account",
    "AccountStatus",
    "BrowsingSession",
    "DeletionRequest",
    "DeletionStatus",
    "OAuthState",
    "OAuthStateClaim",
    "Storage",
    "StorageError",
    "Subscription",
    "open_storage",
]


async def open_storage(url: str, *, encryption_key: str | None = None) -> Storage:
    """Open the database at `url` (`sqlite:///PATH` or `sqlite:///:memory:`) and migrate it.

    Without `encryption_key`, the Fernet key is read from, or created in, a key file
    beside the database.
    """
    from storage.sqlite import SQLiteStorage

    return await SQLiteStorage.open(url, encryption_key=encryption_key)
