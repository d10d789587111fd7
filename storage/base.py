"""The storage interface and the row types that callers see.

Every method is async and safe to call from many tasks at once. Times are timezone-aware
UTC datetimes. Tokens cross this interface in plaintext; the backend encrypts them at rest.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

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
]


class StorageError(Exception):
    """The database cannot be opened, migrated or used."""


class AccountStatus(StrEnum):
    """Lifecycle of a connected Instagram account."""

    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class DeletionStatus(StrEnum):
    """State of a data-deletion request received from Meta."""

    PENDING = "pending"
    COMPLETED = "completed"


class OAuthStateClaim(StrEnum):
    """Outcome of claiming an OAuth state."""

    CLAIMED = "claimed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


@dataclass(frozen=True, slots=True)
class Account:
    """An Instagram account connected by one Telegram user.

    Each Telegram user has at most one account. The same Instagram account may be connected
    by several Telegram users; each connection keeps its own token.
    """

    id: int
    telegram_user_id: int
    instagram_user_id: str
    username: str
    account_type: str
    status: AccountStatus
    access_token: str | None = field(repr=False)
    token_issued_at: datetime | None
    token_expires_at: datetime | None
    connected_at: datetime
    last_refresh_attempt_at: datetime | None = None
    last_refresh_error: str | None = None
    refresh_failures: int = 0
    next_refresh_at: datetime | None = None
    expiry_warned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OAuthState:
    """A pending authorization started by `/connect`."""

    state: str
    telegram_user_id: int
    chat_id: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BrowsingSession:
    """Paging position behind the Older / Newer buttons of one `/media` control message.

    `cursors[i]` is the `after` cursor that fetches page `i`; page 0 has `None`.
    """

    id: str
    telegram_user_id: int
    account_id: int
    cursors: tuple[str | None, ...]
    page: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Subscription:
    """A group chat that receives new posts of one connected account."""

    id: int
    chat_id: int
    account_id: int
    subscribed_by: int
    active: bool
    created_at: datetime
    baseline_done: bool = False
    last_delivered_media_id: str | None = None
    last_delivered_at: datetime | None = None
    deactivated_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeletionRequest:
    """A data-deletion request from Meta, identified by its confirmation code."""

    confirmation_code: str
    instagram_user_id: str
    status: DeletionStatus
    requested_at: datetime
    completed_at: datetime | None = None


class Storage(abc.ABC):
    """The one access layer to the database."""

    # Lifecycle

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and close the database."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """Return whether the database completes a trivial query."""

    # Telegram users

    @abc.abstractmethod
    async def upsert_telegram_user(
        self, telegram_user_id: int, username: str | None, first_name: str | None
    ) -> None:
        """Insert or update a Telegram user seen in an update."""

    @abc.abstractmethod
    async def delete_telegram_user(self, telegram_user_id: int) -> None:
        """Delete a Telegram user and every row that refers to them, in one transaction."""

    # Accounts and tokens

    @abc.abstractmethod
    async def save_account(
        self,
        *,
        telegram_user_id: int,
        instagram_user_id: str,
        username: str,
        account_type: str,
        access_token: str,
        token_issued_at: datetime,
        token_expires_at: datetime,
        now: datetime,
    ) -> Account:
        """Connect or reconnect: store the account as active with a new token.

        A Telegram user who connects again replaces the previous account and token. When
        the Instagram user changes, the old account's subscriptions, browsing state and
        cached files are removed with it.
        """

    @abc.abstractmethod
    async def get_account(self, account_id: int) -> Account | None:
        """Return the account with this id."""

    @abc.abstractmethod
    async def get_account_for_user(self, telegram_user_id: int) -> Account | None:
        """Return the account connected by this Telegram user, in any status."""

    @abc.abstractmethod
    async def accounts_for_instagram_user(self, instagram_user_id: str) -> list[Account]:
        """Return every connection of this Instagram user."""

    @abc.abstractmethod
    async def update_token(
        self,
        account_id: int,
        *,
        access_token: str,
        token_issued_at: datetime,
        token_expires_at: datetime,
        now: datetime,
    ) -> None:
        """Replace the token after a refresh and clear the failure counters, atomically."""

    @abc.abstractmethod
    async def accounts_due_for_refresh(
        self, *, now: datetime, expires_within: timedelta, min_age: timedelta, limit: int
    ) -> list[Account]:
        """Return active accounts whose token expires within the window, is at least
        `min_age` old, has not expired, and whose `next_refresh_at` is unset or past."""

    @abc.abstractmethod
    async def record_refresh_failure(
        self, account_id: int, *, error: str, now: datetime, next_attempt_at: datetime
    ) -> int:
        """Record a failed refresh and when to try again; return the failure count."""

    @abc.abstractmethod
    async def mark_expiry_warned(self, account_id: int, *, now: datetime) -> bool:
        """Record that the user was warned about the coming expiry; False if already warned."""

    @abc.abstractmethod
    async def mark_needs_reconnect(self, account_id: int, *, error: str, now: datetime) -> bool:
        """Set status needs_reconnect and forget the token; False if it already was."""

    @abc.abstractmethod
    async def disconnect_instagram_user(self, instagram_user_id: str, *, now: datetime) -> int:
        """Mark every connection of this Instagram user disconnected and forget its tokens.

        Returns the number of accounts changed.
        """

    @abc.abstractmethod
    async def delete_account_for_user(
        self, telegram_user_id: int, *, account_id: int | None = None
    ) -> bool:
        """Delete the user's account with its tokens, browsing state, cached files and
        subscriptions; False if there was none.

        With `account_id`, delete only when the user's account has that id, so a confirmation
        asked about one account never removes the account that replaced it.
        """

    @abc.abstractmethod
    async def delete_instagram_user_data(self, instagram_user_id: str) -> int:
        """Delete every row about this Instagram user in one transaction; return the
        number of accounts removed."""

    @abc.abstractmethod
    async def count_accounts(self) -> int:
        """Return the number of stored accounts in any status."""

    # OAuth states

    @abc.abstractmethod
    async def create_oauth_state(
        self, *, state: str, telegram_user_id: int, chat_id: int, now: datetime, ttl: timedelta
    ) -> OAuthState:
        """Store a new single-use state bound to a Telegram user."""

    @abc.abstractmethod
    async def claim_oauth_state(
        self, state: str, *, now: datetime
    ) -> tuple[OAuthStateClaim, OAuthState | None]:
        """Mark the state used; exactly one of any number of concurrent claims succeeds."""

    @abc.abstractmethod
    async def purge_oauth_states(self, *, now: datetime) -> int:
        """Delete expired and used states; return how many were removed."""

    # Browsing sessions

    @abc.abstractmethod
    async def create_browsing_session(
        self,
        *,
        telegram_user_id: int,
        account_id: int,
        now: datetime,
        cursors: tuple[str | None, ...] = (None,),
    ) -> BrowsingSession:
        """Start a session at page 0 with a new short random id (at most 16 characters).

        `cursors` may already name the pages after page 0, whose cursor is always None.
        """

    @abc.abstractmethod
    async def get_browsing_session(self, session_id: str) -> BrowsingSession | None:
        """Return the session with this id."""

    @abc.abstractmethod
    async def update_browsing_session(
        self, session_id: str, *, cursors: tuple[str | None, ...], page: int, now: datetime
    ) -> None:
        """Store the known cursors and the page now shown."""

    @abc.abstractmethod
    async def purge_browsing_sessions(self, *, older_than: datetime) -> int:
        """Delete sessions not updated since `older_than`; return how many were removed."""

    # Telegram file_id cache

    @abc.abstractmethod
    async def get_cached_file_id(self, media_id: str, kind: str) -> str | None:
        """Return the Telegram file_id stored for this Instagram media id and kind."""

    @abc.abstractmethod
    async def get_cached_file_ids(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """Return the stored file_ids of many `(media_id, kind)` keys in one read.

        Keys without a cached file_id are missing from the result.
        """

    @abc.abstractmethod
    async def cache_file_id(
        self, *, media_id: str, kind: str, file_id: str, instagram_user_id: str, now: datetime
    ) -> None:
        """Store or replace the file_id of a sent media item."""

    @abc.abstractmethod
    async def forget_file_id(self, media_id: str, kind: str) -> None:
        """Drop a cached file_id that Telegram no longer accepts."""

    # Group subscriptions and deliveries

    @abc.abstractmethod
    async def subscribe(
        self, *, chat_id: int, account_id: int, subscribed_by: int, now: datetime
    ) -> tuple[Subscription, bool]:
        """Create or reactivate a subscription; the flag is True when anything changed."""

    @abc.abstractmethod
    async def unsubscribe(self, *, chat_id: int, account_id: int) -> bool:
        """Remove a subscription; False if there was none."""

    @abc.abstractmethod
    async def subscriptions_for_chat(self, chat_id: int) -> list[Subscription]:
        """Return the active subscriptions of a chat."""

    @abc.abstractmethod
    async def active_subscriptions(self) -> list[Subscription]:
        """Return every active subscription whose account is active, ordered by account."""

    @abc.abstractmethod
    async def mark_subscription_baseline(self, subscription_id: int) -> None:
        """Record that the posts present at subscription time were marked as seen."""

    @abc.abstractmethod
    async def record_delivery(
        self, *, subscription_id: int, chat_id: int, media_id: str, now: datetime
    ) -> bool:
        """Record that a post reached a chat; False if it had already been recorded."""

    @abc.abstractmethod
    async def is_delivered(self, chat_id: int, media_id: str) -> bool:
        """Return whether this post was already recorded for this chat."""

    @abc.abstractmethod
    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        """Move subscriptions and deliveries of a group that became a supergroup."""

    @abc.abstractmethod
    async def deactivate_chat(self, chat_id: int, *, reason: str) -> int:
        """Deactivate every subscription of a chat that removed or blocked the bot."""

    # Data-deletion requests

    @abc.abstractmethod
    async def create_deletion_request(
        self, *, confirmation_code: str, instagram_user_id: str, now: datetime
    ) -> DeletionRequest:
        """Record a pending deletion request."""

    @abc.abstractmethod
    async def get_deletion_request(self, confirmation_code: str) -> DeletionRequest | None:
        """Return the request with this confirmation code."""

    @abc.abstractmethod
    async def pending_deletion_requests(self) -> list[DeletionRequest]:
        """Return pending requests, oldest first."""

    @abc.abstractmethod
    async def complete_deletion_request(self, confirmation_code: str, *, now: datetime) -> None:
        """Mark a request completed at `now`."""

    # Job bookkeeping

    @abc.abstractmethod
    async def get_job_last_run(self, job_name: str) -> datetime | None:
        """Return when the job last finished, or None if it never ran."""

    @abc.abstractmethod
    async def set_job_last_run(self, job_name: str, *, at: datetime) -> None:
        """Record when the job last finished."""
