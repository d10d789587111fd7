"""The SQLite implementation of `Storage`, on one aiosqlite connection."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import aiosqlite

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
from storage.crypto import KEY_SETTING, TokenCipher, key_file_path
from storage.migrations import apply_migrations, load_migrations
from storage.sqlite_connection import (
    MEMORY_DATABASE,
    check_or_store_key,
    connect,
    default_cipher,
    parse_sqlite_url,
)
from storage.sqlite_rows import (
    decode_cursors,
    deletion_request_from_row,
    from_db_time,
    from_db_time_or_none,
    oauth_state_from_row,
    subscription_from_row,
    to_db_time,
)

__all__ = ["SQLiteStorage", "parse_sqlite_url"]

logger = logging.getLogger(__name__)

# Positional parameters for `?` placeholders or named ones for `:name` placeholders.
_Parameters: TypeAlias = Sequence[Any] | Mapping[str, Any]

_SESSION_ID_BYTES = 9  # 12 URL-safe characters, within the 16 that callback data allows
# Values bound per statement by batch reads, well below SQLite's default maximum of 32,766.
_MAX_PARAMETERS = 500

_DUE_FOR_REFRESH_SQL = """
SELECT * FROM accounts
WHERE status = 'active'
  AND token_expires_at > :now
  AND token_expires_at <= :horizon
  AND token_issued_at <= :issued_before
  AND (next_refresh_at IS NULL OR next_refresh_at <= :now)
ORDER BY token_expires_at
LIMIT :limit
"""


class SQLiteStorage(Storage):
    """Storage on one SQLite database file (or in memory) shared by every task.

    All statements go through one connection, and every operation, reads included, acquires
    `_lock`. A read therefore never sees a write transaction that is still open on the
    shared connection and might roll back.
    """

    def __init__(
        self, connection: aiosqlite.Connection, cipher: TokenCipher, *, description: str
    ) -> None:
        self._connection = connection
        self._cipher = cipher
        self._description = description
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStorage({self._description!r})"

    # Opening and closing

    @classmethod
    async def open(cls, url: str, *, encryption_key: str | None = None) -> SQLiteStorage:
        """Open the database at `url`, apply pending migrations and check the token key.

        Without `encryption_key` (or with a blank one), a file database keeps its key in
        `<path>.key`, created with mode 0600 on first start, and an in-memory database gets
        a new key that lives only as long as the process.

        Raises:
            StorageError: the URL, key or schema version is invalid, the key cannot decrypt
                the stored tokens, or the file cannot be opened.
        """
        path = parse_sqlite_url(url)
        # A blank key, as an empty line in a .env file gives, counts as unset.
        from_setting = bool(encryption_key and encryption_key.strip())
        cipher = TokenCipher(encryption_key) if encryption_key and from_setting else None
        if path is None:
            description = MEMORY_DATABASE
        else:
            description = str(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the directory of {path}: {exc}") from exc

        connection = await connect(description, in_memory=path is None)
        try:
            version = await apply_migrations(connection, load_migrations())
            if cipher is None:
                cipher = await default_cipher(connection, path)
            if from_setting:
                key_source = KEY_SETTING
            elif path is not None:
                key_source = f"the key file {key_file_path(path)}"
            else:
                key_source = "the generated key"
            await check_or_store_key(connection, cipher, description, key_source=key_source)
        except BaseException:
            await connection.close()
            raise

        logger.info("opened database %s at schema version %d", description, version)
        return cls(connection, cipher, description=description)

    async def close(self) -> None:
        """Wait for the running operation to finish, then close the connection."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                # SQLite documents this before close: it refreshes stale planner statistics.
                await self._connection.execute("PRAGMA optimize")
            except sqlite3.Error as exc:
                logger.warning("PRAGMA optimize failed on database %s: %s", self._description, exc)
            try:
                await self._connection.close()
            except sqlite3.Error as exc:
                raise StorageError(f"closing database {self._description} failed: {exc}") from exc
        logger.info("closed database %s", self._description)

    async def ping(self) -> bool:
        """Return whether `SELECT 1` succeeds on the database."""
        try:
            row = await self._fetch_one("SELECT 1")
        except StorageError:
            return False
        return row is not None and row[0] == 1

    # Transactions

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run the body in a `BEGIN IMMEDIATE` transaction that commits on success.

        Any exception rolls the transaction back and propagates; sqlite3 errors become
        StorageError.
        """
        async with self._lock:
            self._ensure_open()
            connection = self._connection
            try:
                await connection.execute("BEGIN IMMEDIATE")
                try:
                    yield connection
                except BaseException:
                    if connection.in_transaction:
                        await connection.execute("ROLLBACK")
                    raise
                await connection.execute("COMMIT")
            except sqlite3.Error as exc:
                if connection.in_transaction:
                    await connection.execute("ROLLBACK")
                raise StorageError(f"database write failed: {exc}") from exc

    async def _write_statement(self, sql: str, parameters: _Parameters = ()) -> int:
        """Run one write statement as its own transaction and return its row count.

        SQLite commits a statement outside a transaction atomically on its own, so this
        takes one trip to aiosqlite's thread where `_write` takes three, with BEGIN and
        COMMIT. sqlite3 errors become StorageError.
        """
        async with self._lock:
            self._ensure_open()
            try:
                cursor = await self._connection.execute(sql, parameters)
            except sqlite3.Error as exc:
                raise StorageError(f"database write failed: {exc}") from exc
            return cursor.rowcount

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            self._ensure_open()
            try:
                yield self._connection
            except sqlite3.Error as exc:
                raise StorageError(f"database read failed: {exc}") from exc

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError(f"database {self._description} is closed")

    # Reads use execute_fetchall, which runs the query and fetches its rows in one trip to
    # aiosqlite's thread, where a cursor needs three: execute, fetch and close.

    async def _fetch_one(self, sql: str, parameters: _Parameters = ()) -> sqlite3.Row | None:
        """Return the first row; meant for queries that select at most one row by key."""
        rows = await self._fetch_all(sql, parameters)
        return rows[0] if rows else None

    async def _fetch_all(self, sql: str, parameters: _Parameters = ()) -> list[sqlite3.Row]:
        async with self._read() as connection:
            return list(await connection.execute_fetchall(sql, parameters))

    # Telegram users

    async def upsert_telegram_user(
        self, telegram_user_id: int, username: str | None, first_name: str | None
    ) -> None:
        """Insert or update a Telegram user seen in an update."""
        now = to_db_time(datetime.now(UTC))
        await self._write_statement(
            """
            INSERT INTO telegram_users
                (telegram_user_id, username, first_name, first_seen_at, last_seen_at)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (telegram_user_id) DO UPDATE SET
                username = excluded.username,
                first_name = excluded.first_name,
                last_seen_at = excluded.last_seen_at
            """,
            (telegram_user_id, username, first_name, now, now),
        )

    async def delete_telegram_user(self, telegram_user_id: int) -> None:
        """Delete a Telegram user and every row that refers to them, in one transaction.

        Besides the user's account with its dependent rows, this removes their OAuth states,
        browsing sessions and any subscription they created.
        """
        async with self._write() as connection:
            await _delete_accounts(connection, "telegram_user_id = ?", (telegram_user_id,))
            await connection.execute(
                "DELETE FROM subscriptions WHERE subscribed_by = ?", (telegram_user_id,)
            )
            # The foreign keys cascade to OAuth states and browsing sessions.
            await connection.execute(
                "DELETE FROM telegram_users WHERE telegram_user_id = ?", (telegram_user_id,)
            )

    # Accounts and tokens

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

        Reconnecting the same Instagram user keeps the account id, its subscriptions and
        browsing sessions, and resets the refresh bookkeeping. Connecting a different
        Instagram user deletes the old account with its dependent rows and cached files, and
        creates a new account id.
        """
        encrypted = self._cipher.encrypt(access_token)
        now_text = to_db_time(now)
        values = {
            "telegram_user_id": telegram_user_id,
            "instagram_user_id": instagram_user_id,
            "username": username,
            "account_type": account_type,
            "token": encrypted,
            "issued": to_db_time(token_issued_at),
            "expires": to_db_time(token_expires_at),
            "now": now_text,
        }
        async with self._write() as connection:
            await _ensure_telegram_user(connection, telegram_user_id, now_text)
            await _delete_accounts(
                connection,
                "telegram_user_id = ? AND instagram_user_id <> ?",
                (telegram_user_id, instagram_user_id),
            )
            await connection.execute(
                """
                INSERT INTO accounts (
                    telegram_user_id, instagram_user_id, username, account_type, status,
                    access_token_encrypted, token_issued_at, token_expires_at,
                    connected_at, status_changed_at
                )
                VALUES (
                    :telegram_user_id, :instagram_user_id, :username, :account_type, 'active',
                    :token, :issued, :expires, :now, :now
                )
                ON CONFLICT (telegram_user_id) DO UPDATE SET
                    username = excluded.username,
                    account_type = excluded.account_type,
                    status = 'active',
                    access_token_encrypted = excluded.access_token_encrypted,
                    token_issued_at = excluded.token_issued_at,
                    token_expires_at = excluded.token_expires_at,
                    connected_at = excluded.connected_at,
                    status_changed_at = excluded.status_changed_at,
                    last_refresh_attempt_at = NULL,
                    last_refresh_error = NULL,
                    refresh_failures = 0,
                    next_refresh_at = NULL,
                    expiry_warned_at = NULL
                """,
                values,
            )
            async with connection.execute(
                "SELECT * FROM accounts WHERE telegram_user_id = ?", (telegram_user_id,)
            ) as cursor:
                row = await cursor.fetchone()
        if row is None:
            raise StorageError(f"account of Telegram user {telegram_user_id} was not saved")
        return self._account_from_row(row)

    async def get_account(self, account_id: int) -> Account | None:
        """Return the account with this id."""
        row = await self._fetch_one("SELECT * FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else self._account_from_row(row)

    async def get_account_for_user(self, telegram_user_id: int) -> Account | None:
        """Return the account connected by this Telegram user, in any status."""
        row = await self._fetch_one(
            "SELECT * FROM accounts WHERE telegram_user_id = ?", (telegram_user_id,)
        )
        return None if row is None else self._account_from_row(row)

    async def accounts_for_instagram_user(self, instagram_user_id: str) -> list[Account]:
        """Return every connection of this Instagram user, oldest account first."""
        rows = await self._fetch_all(
            "SELECT * FROM accounts WHERE instagram_user_id = ? ORDER BY id",
            (instagram_user_id,),
        )
        return [self._account_from_row(row) for row in rows]

    async def update_token(
        self,
        account_id: int,
        *,
        access_token: str,
        token_issued_at: datetime,
        token_expires_at: datetime,
        now: datetime,
    ) -> None:
        """Replace the token after a refresh and clear the failure counters, atomically.

        One UPDATE stores the new token together with the cleared counters. An account that
        is no longer active (disconnected or deleted while the refresh ran) is left as it is.
        """
        values = {
            "id": account_id,
            "token": self._cipher.encrypt(access_token),
            "issued": to_db_time(token_issued_at),
            "expires": to_db_time(token_expires_at),
            "now": to_db_time(now),
        }
        updated = await self._write_statement(
            """
            UPDATE accounts SET
                access_token_encrypted = :token,
                token_issued_at = :issued,
                token_expires_at = :expires,
                last_refresh_attempt_at = :now,
                last_refresh_error = NULL,
                refresh_failures = 0,
                next_refresh_at = NULL,
                expiry_warned_at = NULL
            WHERE id = :id AND status = 'active'
            """,
            values,
        )
        if updated == 0:
            logger.info(
                "account %d is no longer active; its refreshed token was dropped", account_id
            )

    async def accounts_due_for_refresh(
        self, *, now: datetime, expires_within: timedelta, min_age: timedelta, limit: int
    ) -> list[Account]:
        """Return active accounts whose token expires within the window, is at least
        `min_age` old, has not expired, and whose `next_refresh_at` is unset or past.

        The accounts whose tokens expire soonest come first.

        Raises:
            ValueError: `limit` is negative.
        """
        if limit < 0:
            raise ValueError(f"limit must be 0 or greater, got {limit}")
        rows = await self._fetch_all(
            _DUE_FOR_REFRESH_SQL,
            _due_for_refresh_parameters(now, expires_within, min_age, limit),
        )
        return [self._account_from_row(row) for row in rows]

    def due_for_refresh_query(
        self, *, now: datetime, expires_within: timedelta, min_age: timedelta, limit: int
    ) -> tuple[str, dict[str, Any]]:
        """Return the SQL and named parameters that `accounts_due_for_refresh()` runs.

        The SQL selects whole `accounts` rows, with tokens still encrypted, and names its
        table once as `FROM accounts`, so a caller can time or explain it on its own.
        """
        return _DUE_FOR_REFRESH_SQL, _due_for_refresh_parameters(
            now, expires_within, min_age, limit
        )

    async def explain_due_for_refresh(self) -> str:
        """Return the `EXPLAIN QUERY PLAN` of the due-for-refresh query, one step a line."""
        parameters = _due_for_refresh_parameters(
            datetime.now(UTC), timedelta(days=10), timedelta(days=1), 100
        )
        rows = await self._fetch_all(f"EXPLAIN QUERY PLAN {_DUE_FOR_REFRESH_SQL}", parameters)
        return "\n".join(str(row["detail"]) for row in rows)

    async def record_refresh_failure(
        self, account_id: int, *, error: str, now: datetime, next_attempt_at: datetime
    ) -> int:
        """Record a failed refresh and when to try again; return the failure count.

        Returns 0 when the account no longer exists.
        """
        async with self._write() as connection:
            await connection.execute(
                """
                UPDATE accounts SET
                    refresh_failures = refresh_failures + 1,
                    last_refresh_error = ?,
                    last_refresh_attempt_at = ?,
                    next_refresh_at = ?
                WHERE id = ?
                """,
                (error, to_db_time(now), to_db_time(next_attempt_at), account_id),
            )
            async with connection.execute(
                "SELECT refresh_failures FROM accounts WHERE id = ?", (account_id,)
            ) as cursor:
                row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def mark_expiry_warned(self, account_id: int, *, now: datetime) -> bool:
        """Record that the user was warned about the coming expiry; False if already warned.

        A successful `update_token` or `save_account` clears the mark.
        """
        async with self._write() as connection:
            cursor = await connection.execute(
                "UPDATE accounts SET expiry_warned_at = ? "
                "WHERE id = ? AND expiry_warned_at IS NULL",
                (to_db_time(now), account_id),
            )
            return cursor.rowcount == 1

    async def mark_needs_reconnect(self, account_id: int, *, error: str, now: datetime) -> bool:
        """Set status needs_reconnect and forget the token; False if it already was.

        Only an active account changes, so a disconnected account also returns False.
        """
        async with self._write() as connection:
            cursor = await connection.execute(
                """
                UPDATE accounts SET
                    status = 'needs_reconnect',
                    access_token_encrypted = NULL,
                    last_refresh_error = ?,
                    status_changed_at = ?
                WHERE id = ? AND status = 'active'
                """,
                (error, to_db_time(now), account_id),
            )
            return cursor.rowcount == 1

    async def disconnect_instagram_user(self, instagram_user_id: str, *, now: datetime) -> int:
        """Mark every connection of this Instagram user disconnected and forget its tokens.

        Returns the number of accounts changed.
        """
        async with self._write() as connection:
            cursor = await connection.execute(
                """
                UPDATE accounts SET
                    status = 'disconnected',
                    access_token_encrypted = NULL,
                    status_changed_at = ?
                WHERE instagram_user_id = ? AND status <> 'disconnected'
                """,
                (to_db_time(now), instagram_user_id),
            )
            return cursor.rowcount

    async def delete_account_for_user(
        self, telegram_user_id: int, *, account_id: int | None = None
    ) -> bool:
        """Delete the user's account with its tokens, browsing state, cached files and
        subscriptions; False if there was none, or if it is not `account_id` when given.

        Cached files belong to the Instagram user, so they are removed even when another
        Telegram user still has the same Instagram account connected.
        """
        condition = "telegram_user_id = ?"
        parameters: tuple[int, ...] = (telegram_user_id,)
        if account_id is not None:
            condition += " AND id = ?"
            parameters += (account_id,)
        async with self._write() as connection:
            deleted = await _delete_accounts(connection, condition, parameters)
        return deleted > 0

    async def delete_instagram_user_data(self, instagram_user_id: str) -> int:
        """Delete every row about this Instagram user in one transaction; return the
        number of accounts removed.

        Deletion requests stay, because their status page must keep working.
        """
        async with self._write() as connection:
            deleted = await _delete_accounts(
                connection, "instagram_user_id = ?", (instagram_user_id,)
            )
            await connection.execute(
                "DELETE FROM file_cache WHERE instagram_user_id = ?", (instagram_user_id,)
            )
        return deleted

    async def count_accounts(self) -> int:
        """Return the number of stored accounts in any status."""
        row = await self._fetch_one("SELECT count(*) FROM accounts")
        return 0 if row is None else int(row[0])

    def _account_from_row(self, row: sqlite3.Row) -> Account:
        encrypted = row["access_token_encrypted"]
        try:
            access_token = None if encrypted is None else self._cipher.decrypt(encrypted)
        except StorageError:
            raise StorageError(
                f"the token of account {row['id']} cannot be decrypted with the configured "
                f"{KEY_SETTING}"
            ) from None
        return Account(
            id=row["id"],
            telegram_user_id=row["telegram_user_id"],
            instagram_user_id=row["instagram_user_id"],
            username=row["username"],
            account_type=row["account_type"],
            status=AccountStatus(row["status"]),
            access_token=access_token,
            token_issued_at=from_db_time_or_none(row["token_issued_at"]),
            token_expires_at=from_db_time_or_none(row["token_expires_at"]),
            connected_at=from_db_time(row["connected_at"]),
            last_refresh_attempt_at=from_db_time_or_none(row["last_refresh_attempt_at"]),
            last_refresh_error=row["last_refresh_error"],
            refresh_failures=row["refresh_failures"],
            next_refresh_at=from_db_time_or_none(row["next_refresh_at"]),
            expiry_warned_at=from_db_time_or_none(row["expiry_warned_at"]),
        )

    # OAuth states

    async def create_oauth_state(
        self, *, state: str, telegram_user_id: int, chat_id: int, now: datetime, ttl: timedelta
    ) -> OAuthState:
        """Store a new single-use state bound to a Telegram user.

        Raises:
            StorageError: the state already exists.
        """
        oauth_state = OAuthState(
            state=state,
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            created_at=now,
            expires_at=now + ttl,
        )
        async with self._write() as connection:
            await _ensure_telegram_user(connection, telegram_user_id, to_db_time(now))
            await connection.execute(
                "INSERT INTO oauth_states "
                "(state, telegram_user_id, chat_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    state,
                    telegram_user_id,
                    chat_id,
                    to_db_time(oauth_state.created_at),
                    to_db_time(oauth_state.expires_at),
                ),
            )
        return oauth_state

    async def claim_oauth_state(
        self, state: str, *, now: datetime
    ) -> tuple[OAuthStateClaim, OAuthState | None]:
        """Mark the state used; exactly one of any number of concurrent claims succeeds.

        The state is returned for every outcome but UNKNOWN. A state that is both used and
        expired counts as USED.
        """
        now_text = to_db_time(now)
        async with self._write() as connection:
            cursor = await connection.execute(
                "UPDATE oauth_states SET used_at = ? "
                "WHERE state = ? AND used_at IS NULL AND expires_at > ?",
                (now_text, state, now_text),
            )
            claimed = cursor.rowcount == 1
            async with connection.execute(
                "SELECT * FROM oauth_states WHERE state = ?", (state,)
            ) as select:
                row = await select.fetchone()

        if row is None:
            return OAuthStateClaim.UNKNOWN, None
        oauth_state = oauth_state_from_row(row)
        if claimed:
            return OAuthStateClaim.CLAIMED, oauth_state
        if oauth_state.used_at is not None:
            return OAuthStateClaim.USED, oauth_state
        return OAuthStateClaim.EXPIRED, oauth_state

    async def purge_oauth_states(self, *, now: datetime) -> int:
        """Delete expired and used states; return how many were removed."""
        async with self._write() as connection:
            cursor = await connection.execute(
                "DELETE FROM oauth_states WHERE expires_at <= ? OR used_at IS NOT NULL",
                (to_db_time(now),),
            )
            return cursor.rowcount

    # Browsing sessions

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

        Raises:
            ValueError: `cursors` is empty or its first cursor is not None.
        """
        if not cursors or cursors[0] is not None:
            raise ValueError(f"cursors must start with None for page 0, got {cursors!r}")
        now_text = to_db_time(now)
        async with self._write() as connection:
            await _ensure_telegram_user(connection, telegram_user_id, now_text)
            session_id = await _insert_browsing_session(
                connection, telegram_user_id, account_id, cursors, now_text
            )
        return BrowsingSession(
            id=session_id,
            telegram_user_id=telegram_user_id,
            account_id=account_id,
            cursors=cursors,
            page=0,
            created_at=now,
            updated_at=now,
        )

    async def get_browsing_session(self, session_id: str) -> BrowsingSession | None:
        """Return the session with this id."""
        row = await self._fetch_one("SELECT * FROM browsing_sessions WHERE id = ?", (session_id,))
        if row is None:
            return None
        return BrowsingSession(
            id=row["id"],
            telegram_user_id=row["telegram_user_id"],
            account_id=row["account_id"],
            cursors=decode_cursors(row["cursors"]),
            page=row["page"],
            created_at=from_db_time(row["created_at"]),
            updated_at=from_db_time(row["updated_at"]),
        )

    async def update_browsing_session(
        self, session_id: str, *, cursors: tuple[str | None, ...], page: int, now: datetime
    ) -> None:
        """Store the known cursors and the page now shown; a missing session is ignored.

        Raises:
            ValueError: `page` is negative.
        """
        if page < 0:
            raise ValueError(f"page must be 0 or greater, got {page}")
        await self._write_statement(
            "UPDATE browsing_sessions SET cursors = ?, page = ?, updated_at = ? WHERE id = ?",
            (json.dumps(list(cursors)), page, to_db_time(now), session_id),
        )

    async def purge_browsing_sessions(self, *, older_than: datetime) -> int:
        """Delete sessions not updated since `older_than`; return how many were removed."""
        async with self._write() as connection:
            cursor = await connection.execute(
                "DELETE FROM browsing_sessions WHERE updated_at < ?", (to_db_time(older_than),)
            )
            return cursor.rowcount

    # Telegram file_id cache

    async def get_cached_file_id(self, media_id: str, kind: str) -> str | None:
        """Return the Telegram file_id stored for this Instagram media id and kind."""
        row = await self._fetch_one(
            "SELECT file_id FROM file_cache WHERE media_id = ? AND kind = ?", (media_id, kind)
        )
        return None if row is None else str(row[0])

    async def get_cached_file_ids(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """Return the stored file_ids of many `(media_id, kind)` keys in one read.

        Keys without a cached file_id are missing from the result. Many keys are read in
        chunks, so each statement stays within SQLite's limit on parameters.
        """
        requested = set(keys)
        media_ids = sorted({media_id for media_id, _ in requested})
        found: dict[tuple[str, str], str] = {}
        async with self._read() as connection:
            for start in range(0, len(media_ids), _MAX_PARAMETERS):
                chunk = media_ids[start : start + _MAX_PARAMETERS]
                placeholders = ", ".join("?" * len(chunk))
                # `placeholders` is only question marks, one per value, never caller input.
                sql = (
                    "SELECT media_id, kind, file_id FROM file_cache "
                    f"WHERE media_id IN ({placeholders})"
                )
                for media_id, kind, file_id in await connection.execute_fetchall(sql, chunk):
                    if (media_id, kind) in requested:
                        found[media_id, kind] = str(file_id)
        return found

    async def cache_file_id(
        self, *, media_id: str, kind: str, file_id: str, instagram_user_id: str, now: datetime
    ) -> None:
        """Store or replace the file_id of a sent media item."""
        await self._write_statement(
            """
            INSERT INTO file_cache (media_id, kind, file_id, instagram_user_id, cached_at)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (media_id, kind) DO UPDATE SET
                file_id = excluded.file_id,
                instagram_user_id = excluded.instagram_user_id,
                cached_at = excluded.cached_at
            """,
            (media_id, kind, file_id, instagram_user_id, to_db_time(now)),
        )

    async def forget_file_id(self, media_id: str, kind: str) -> None:
        """Drop a cached file_id that Telegram no longer accepts."""
        await self._write_statement(
            "DELETE FROM file_cache WHERE media_id = ? AND kind = ?", (media_id, kind)
        )

    # Group subscriptions and deliveries

    async def subscribe(
        self, *, chat_id: int, account_id: int, subscribed_by: int, now: datetime
    ) -> tuple[Subscription, bool]:
        """Create or reactivate a subscription; the flag is True when anything changed.

        Reactivating clears `baseline_done`, so posts published while the subscription was
        inactive are marked as seen instead of flooding the chat. An active subscription is
        returned unchanged, with its original `subscribed_by`.

        Raises:
            StorageError: the account does not exist.
        """
        async with self._write() as connection:
            cursor = await connection.execute(
                """
                INSERT INTO subscriptions (chat_id, account_id, subscribed_by, active, created_at)
                VALUES (?, ?, ?, 1, ?)
                ON CONFLICT (chat_id, account_id) DO UPDATE SET
                    active = 1,
                    subscribed_by = excluded.subscribed_by,
                    baseline_done = 0,
                    deactivated_reason = NULL
                WHERE active = 0
                """,
                (chat_id, account_id, subscribed_by, to_db_time(now)),
            )
            changed = cursor.rowcount == 1
            async with connection.execute(
                "SELECT * FROM subscriptions WHERE chat_id = ? AND account_id = ?",
                (chat_id, account_id),
            ) as select:
                row = await select.fetchone()
        if row is None:
            raise StorageError(
                f"subscription of chat {chat_id} to account {account_id} is missing"
            )
        return subscription_from_row(row), changed

    async def unsubscribe(self, *, chat_id: int, account_id: int) -> bool:
        """Remove a subscription and its delivery records; False if there was none."""
        async with self._write() as connection:
            cursor = await connection.execute(
                "DELETE FROM subscriptions WHERE chat_id = ? AND account_id = ?",
                (chat_id, account_id),
            )
            return cursor.rowcount == 1

    async def subscriptions_for_chat(self, chat_id: int) -> list[Subscription]:
        """Return the active subscriptions of a chat, oldest first."""
        rows = await self._fetch_all(
            "SELECT * FROM subscriptions WHERE chat_id = ? AND active = 1 ORDER BY id",
            (chat_id,),
        )
        return [subscription_from_row(row) for row in rows]

    async def active_subscriptions(self) -> list[Subscription]:
        """Return every active subscription whose account is active, ordered by account."""
        rows = await self._fetch_all(
            """
            SELECT subscriptions.* FROM subscriptions
            JOIN accounts ON accounts.id = subscriptions.account_id
            WHERE subscriptions.active = 1 AND accounts.status = 'active'
            ORDER BY subscriptions.account_id, subscriptions.id
            """
        )
        return [subscription_from_row(row) for row in rows]

    async def mark_subscription_baseline(self, subscription_id: int) -> None:
        """Record that the posts present at subscription time were marked as seen."""
        async with self._write() as connection:
            await connection.execute(
                "UPDATE subscriptions SET baseline_done = 1 WHERE id = ?", (subscription_id,)
            )

    async def record_delivery(
        self, *, subscription_id: int, chat_id: int, media_id: str, now: datetime
    ) -> bool:
        """Record that a post reached a chat; False if it had already been recorded.

        A new record also becomes the subscription's last delivered post.
        """
        now_text = to_db_time(now)
        async with self._write() as connection:
            cursor = await connection.execute(
                "INSERT OR IGNORE INTO deliveries "
                "(chat_id, media_id, subscription_id, delivered_at) VALUES (?, ?, ?, ?)",
                (chat_id, media_id, subscription_id, now_text),
            )
            inserted = cursor.rowcount == 1
            if inserted:
                await connection.execute(
                    "UPDATE subscriptions SET last_delivered_media_id = ?, last_delivered_at = ? "
                    "WHERE id = ?",
                    (media_id, now_text, subscription_id),
                )
        return inserted

    async def is_delivered(self, chat_id: int, media_id: str) -> bool:
        """Return whether this post was already recorded for this chat."""
        row = await self._fetch_one(
            "SELECT 1 FROM deliveries WHERE chat_id = ? AND media_id = ?", (chat_id, media_id)
        )
        return row is not None

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        """Move subscriptions and deliveries of a group that became a supergroup.

        When the new chat already subscribes to the same account, the two subscriptions
        merge into the new chat's one: it stays active if either was, and keeps every
        delivery record of both. Returns the number of subscriptions moved or merged.
        """
        if old_chat_id == new_chat_id:
            return 0
        async with self._write() as connection:
            async with connection.execute(
                "SELECT * FROM subscriptions WHERE chat_id = ? ORDER BY id", (old_chat_id,)
            ) as cursor:
                old_rows = list(await cursor.fetchall())
            for old_row in old_rows:
                await _move_subscription(connection, old_row, new_chat_id)
        return len(old_rows)

    async def deactivate_chat(self, chat_id: int, *, reason: str) -> int:
        """Deactivate every subscription of a chat that removed or blocked the bot.

        Returns the number of subscriptions that were active.
        """
        async with self._write() as connection:
            cursor = await connection.execute(
                "UPDATE subscriptions SET active = 0, deactivated_reason = ? "
                "WHERE chat_id = ? AND active = 1",
                (reason, chat_id),
            )
            return cursor.rowcount

    # Data-deletion requests

    async def create_deletion_request(
        self, *, confirmation_code: str, instagram_user_id: str, now: datetime
    ) -> DeletionRequest:
        """Record a pending deletion request.

        Raises:
            StorageError: a request with this confirmation code already exists.
        """
        request = DeletionRequest(
            confirmation_code=confirmation_code,
            instagram_user_id=instagram_user_id,
            status=DeletionStatus.PENDING,
            requested_at=now,
        )
        async with self._write() as connection:
            await connection.execute(
                "INSERT INTO deletion_requests "
                "(confirmation_code, instagram_user_id, status, requested_at) VALUES (?, ?, ?, ?)",
                (confirmation_code, instagram_user_id, request.status.value, to_db_time(now)),
            )
        return request

    async def get_deletion_request(self, confirmation_code: str) -> DeletionRequest | None:
        """Return the request with this confirmation code."""
        row = await self._fetch_one(
            "SELECT * FROM deletion_requests WHERE confirmation_code = ?", (confirmation_code,)
        )
        return None if row is None else deletion_request_from_row(row)

    async def pending_deletion_requests(self) -> list[DeletionRequest]:
        """Return pending requests, oldest first."""
        rows = await self._fetch_all(
            "SELECT * FROM deletion_requests WHERE status = 'pending' "
            "ORDER BY requested_at, confirmation_code"
        )
        return [deletion_request_from_row(row) for row in rows]

    async def complete_deletion_request(self, confirmation_code: str, *, now: datetime) -> None:
        """Mark a request completed at `now`; a completed request keeps its first time."""
        async with self._write() as connection:
            await connection.execute(
                "UPDATE deletion_requests SET status = 'completed', completed_at = ? "
                "WHERE confirmation_code = ? AND status = 'pending'",
                (to_db_time(now), confirmation_code),
            )

    # Job bookkeeping

    async def get_job_last_run(self, job_name: str) -> datetime | None:
        """Return when the job last finished, or None if it never ran."""
        row = await self._fetch_one(
            "SELECT last_run_at FROM job_runs WHERE job_name = ?", (job_name,)
        )
        return None if row is None else from_db_time(row[0])

    async def set_job_last_run(self, job_name: str, *, at: datetime) -> None:
        """Record when the job last finished."""
        async with self._write() as connection:
            await connection.execute(
                "INSERT INTO job_runs (job_name, last_run_at) VALUES (?, ?) "
                "ON CONFLICT (job_name) DO UPDATE SET last_run_at = excluded.last_run_at",
                (job_name, to_db_time(at)),
            )


# Helpers that run inside a write transaction


async def _ensure_telegram_user(
    connection: aiosqlite.Connection, telegram_user_id: int, now_text: str
) -> None:
    await connection.execute(
        "INSERT INTO telegram_users (telegram_user_id, first_seen_at, last_seen_at) "
        "VALUES (?, ?, ?) ON CONFLICT (telegram_user_id) DO NOTHING",
        (telegram_user_id, now_text, now_text),
    )


async def _delete_accounts(
    connection: aiosqlite.Connection, where: str, parameters: Sequence[Any]
) -> int:
    """Delete the accounts matching `where` with the cached files of their Instagram users.

    The foreign keys cascade to subscriptions, their deliveries and browsing sessions.
    `where` is a constant SQL condition from this module, never caller input.
    """
    async with connection.execute(
        f"SELECT id, instagram_user_id FROM accounts WHERE {where}", parameters
    ) as cursor:
        rows = list(await cursor.fetchall())
    if not rows:
        return 0

    instagram_user_ids = {str(row["instagram_user_id"]) for row in rows}
    await connection.executemany(
        "DELETE FROM file_cache WHERE instagram_user_id = ?",
        [(instagram_user_id,) for instagram_user_id in instagram_user_ids],
    )
    await connection.executemany(
        "DELETE FROM accounts WHERE id = ?", [(row["id"],) for row in rows]
    )
    return len(rows)


async def _insert_browsing_session(
    connection: aiosqlite.Connection,
    telegram_user_id: int,
    account_id: int,
    cursors: tuple[str | None, ...],
    now_text: str,
) -> str:
    """Insert a session at page 0 under a fresh random id and return the id."""
    for _ in range(5):
        session_id = secrets.token_urlsafe(_SESSION_ID_BYTES)
        cursor = await connection.execute(
            "INSERT OR IGNORE INTO browsing_sessions "
            "(id, telegram_user_id, account_id, cursors, page, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 0, ?, ?)",
            (
                session_id,
                telegram_user_id,
                account_id,
                json.dumps(list(cursors)),
                now_text,
                now_text,
            ),
        )
        if cursor.rowcount == 1:
            return session_id
    raise StorageError("could not pick an unused browsing session id in 5 attempts")


async def _move_subscription(
    connection: aiosqlite.Connection, old_row: sqlite3.Row, new_chat_id: int
) -> None:
    """Move one subscription and its deliveries to `new_chat_id`, merging if needed."""
    old_id = old_row["id"]
    async with connection.execute(
        "SELECT id FROM subscriptions WHERE chat_id = ? AND account_id = ?",
        (new_chat_id, old_row["account_id"]),
    ) as cursor:
        existing = await cursor.fetchone()

    if existing is None:
        await connection.execute(
            "UPDATE subscriptions SET chat_id = ? WHERE id = ?", (new_chat_id, old_id)
        )
        target_id = old_id
    else:
        target_id = existing["id"]
        await connection.execute(
            """
            UPDATE subscriptions SET
                active = max(active, :old_active),
                baseline_done = max(baseline_done, :old_baseline),
                deactivated_reason = CASE WHEN max(active, :old_active) = 1
                    THEN NULL ELSE deactivated_reason END
            WHERE id = :target
            """,
            {
                "old_active": old_row["active"],
                "old_baseline": old_row["baseline_done"],
                "target": target_id,
            },
        )

    # Deliveries of the old chat move under the new chat id. A post recorded in both chats
    # keeps the new chat's record; the old one goes with the old subscription.
    await connection.execute(
        "INSERT OR IGNORE INTO deliveries (chat_id, media_id, subscription_id, delivered_at) "
        "SELECT ?, media_id, ?, delivered_at FROM deliveries "
        "WHERE chat_id = ? AND subscription_id = ?",
        (new_chat_id, target_id, old_row["chat_id"], old_id),
    )
    await connection.execute(
        "DELETE FROM deliveries WHERE chat_id = ? AND subscription_id = ?",
        (old_row["chat_id"], old_id),
    )
    if existing is not None:
        await connection.execute("DELETE FROM subscriptions WHERE id = ?", (old_id,))


def _due_for_refresh_parameters(
    now: datetime, expires_within: timedelta, min_age: timedelta, limit: int
) -> dict[str, Any]:
    return {
        "now": to_db_time(now),
        "horizon": to_db_time(now + expires_within),
        "issued_before": to_db_time(now - min_age),
        "limit": limit,
    }
