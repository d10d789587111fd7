"""Conversion between SQLite values and the row types of `storage.base`.

Times are stored as UTC text in one fixed-width form, 2025-01-31T12:00:00.000000Z, so that
text comparison in SQL orders them correctly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from storage.base import DeletionRequest, DeletionStatus, OAuthState, Subscription

__all__ = [
    "decode_cursors",
    "deletion_request_from_row",
    "from_db_time",
    "from_db_time_or_none",
    "oauth_state_from_row",
    "subscription_from_row",
    "to_db_time",
]


def to_db_time(value: datetime) -> str:
    """Format an aware datetime as stored UTC text; naive datetimes raise ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r} passed to storage; use an aware UTC datetime")
    naive_utc = value.astimezone(UTC).replace(tzinfo=None)
    return naive_utc.isoformat(timespec="microseconds") + "Z"


def from_db_time(text: str) -> datetime:
    """Parse stored UTC text into an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def from_db_time_or_none(text: str | None) -> datetime | None:
    """Parse optional stored UTC text into an aware UTC datetime."""
    return None if text is None else from_db_time(text)


def decode_cursors(text: str) -> tuple[str | None, ...]:
    """Decode the JSON list of paging cursors of a browsing session."""
    values: Iterable[Any] = json.loads(text)
    return tuple(None if value is None else str(value) for value in values)


def oauth_state_from_row(row: sqlite3.Row) -> OAuthState:
    """Build an OAuthState from an `oauth_states` row."""
    return OAuthState(
        state=row["state"],
        telegram_user_id=row["telegram_user_id"],
        chat_id=row["chat_id"],
        created_at=from_db_time(row["created_at"]),
        expires_at=from_db_time(row["expires_at"]),
        used_at=from_db_time_or_none(row["used_at"]),
    )


def subscription_from_row(row: sqlite3.Row) -> Subscription:
    """Build a Subscription from a `subscriptions` row."""
    return Subscription(
        id=row["id"],
        chat_id=row["chat_id"],
        account_id=row["account_id"],
        subscribed_by=row["subscribed_by"],
        active=bool(row["active"]),
        created_at=from_db_time(row["created_at"]),
        baseline_done=bool(row["baseline_done"]),
        last_delivered_media_id=row["last_delivered_media_id"],
        last_delivered_at=from_db_time_or_none(row["last_delivered_at"]),
        deactivated_reason=row["deactivated_reason"],
    )


def deletion_request_from_row(row: sqlite3.Row) -> DeletionRequest:
    """Build a DeletionRequest from a `deletion_requests` row."""
    return DeletionRequest(
        confirmation_code=row["confirmation_code"],
        instagram_user_id=row["instagram_user_id"],
        status=DeletionStatus(row["status"]),
        requested_at=from_db_time(row["requested_at"]),
        completed_at=from_db_time_or_none(row["completed_at"]),
    )
