"""Connecting, inspecting and disconnecting a Telegram user's Instagram account.

The same Instagram account may be connected from several Telegram users. Each connection
keeps its own token and its own lifecycle: disconnecting in one chat leaves the others
working, while a deauthorize or data-deletion callback from Meta, which names only the
Instagram user, ends all of them.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.clock import Clock, utc_now
from bot.config import InstagramFlavor
from bot.instagram import (
    AuthorizationCodeError,
    InstagramError,
    InstagramUnavailableError,
    RateLimitError,
)
from storage import AccountStatus, OAuthStateClaim

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.instagram import InstagramClient, LongLivedToken, Profile
    from bot.services.notifier import Notifier
    from storage import Storage

__all__ = [
    "OAUTH_STATE_TTL",
    "AccountService",
    "ConnectOutcome",
    "ConnectResult",
    "ConnectionInfo",
    "DisconnectCheck",
]

logger = logging.getLogger(__name__)

OAUTH_STATE_TTL = timedelta(minutes=10)

# `secrets.token_urlsafe(24)` gives 32 characters; accept a little more for older links.
_STATE_FORMAT = re.compile(r"[A-Za-z0-9_-]{16,128}")
# Authorization codes are opaque; bound their size and reject whitespace and control bytes.
_CODE_FORMAT = re.compile(r"[\x21-\x7e]{1,2048}")

# Instagram API with Instagram Login serves only professional accounts; a personal account
# can authorize the app but its media cannot be read through this API.
_PERSONAL_ACCOUNT_TYPE = "PERSONAL"


class ConnectOutcome(StrEnum):
    """Kind of OAuth callback outcome, which decides the page and its HTTP status."""

    CONNECTED = "connected"
    DENIED = "denied"
    MISSING_STATE = "missing_state"
    UNKNOWN_STATE = "unknown_state"
    EXPIRED_STATE = "expired_state"
    USED_STATE = "used_state"
    MISSING_CODE = "missing_code"
    REJECTED_CODE = "rejected_code"
    UNSUPPORTED_ACCOUNT = "unsupported_account"
    INSTAGRAM_UNAVAILABLE = "instagram_unavailable"


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """Result of an OAuth callback. `username` and `account_type` are set once known."""

    outcome: ConnectOutcome
    username: str | None = None
    account_type: str | None = None
    token_expires_at: datetime | None = None


class DisconnectCheck(StrEnum):
    """Whether a /disconnect confirmation still applies to the user who presses its button."""

    # The question is about the account that this user has connected now.
    CURRENT = "current"
    # The question is about an account that another Telegram user connected.
    FOREIGN = "foreign"
    # The account is gone, or the user has connected a different Instagram account since.
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """Connection details that `/status` shows, without the token."""

    account_id: int
    username: str
    account_type: str
    status: AccountStatus
    token_expires_at: datetime | None
    connected_at: datetime


_STATE_OUTCOMES = {
    OAuthStateClaim.UNKNOWN: ConnectOutcome.UNKNOWN_STATE,
    OAuthStateClaim.EXPIRED: ConnectOutcome.EXPIRED_STATE,
    OAuthStateClaim.USED: ConnectOutcome.USED_STATE,
}


class AccountService:
    """Run the OAuth connect flow and manage the connection of each Telegram user."""

    def __init__(
        self,
        *,
        storage: Storage,
        instagram: InstagramClient,
        notifier: Notifier,
        settings: Settings,
        clock: Clock = utc_now,
    ) -> None:
        self._storage = storage
        self._instagram = instagram
        self._notifier = notifier
        self._settings = settings
        self._clock = clock

    async def record_user(
        self, telegram_user_id: int, *, username: str | None, first_name: str | None
    ) -> None:
        """Insert or update the Telegram user who sent a command."""
        await self._storage.upsert_telegram_user(telegram_user_id, username, first_name)

    async def start_connect(self, telegram_user_id: int, chat_id: int) -> str:
        """Create a single-use OAuth state bound to the user and return the authorization URL."""
        state = secrets.token_urlsafe(24)
        await self._storage.create_oauth_state(
            state=state,
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            now=self._clock(),
            ttl=OAUTH_STATE_TTL,
        )
        return self._instagram.authorization_url(state)

    async def complete_connect(
        self, *, state: str | None, code: str | None, error: str | None = None
    ) -> ConnectResult:
        """Finish the connect flow after the authorization window redirects back.

        Malformed requests (no state, no code and no error) change nothing. Otherwise the
        state is claimed first, so a link cannot be replayed even when the code exchange
        fails afterwards.
        """
        if not state or not _STATE_FORMAT.fullmatch(state):
            outcome = ConnectOutcome.UNKNOWN_STATE if state else ConnectOutcome.MISSING_STATE
            return ConnectResult(outcome)
        if not error and (not code or not _CODE_FORMAT.fullmatch(code)):
            return ConnectResult(ConnectOutcome.MISSING_CODE)

        claim, oauth_state = await self._storage.claim_oauth_state(state, now=self._clock())
        if claim is not OAuthStateClaim.CLAIMED or oauth_state is None:
            logger.info("OAuth callback with a state that is %s", claim.value)
            return ConnectResult(_STATE_OUTCOMES.get(claim, ConnectOutcome.UNKNOWN_STATE))

        if error or code is None:
            logger.info(
                "User %s declined the authorization (%s)", oauth_state.telegram_user_id, error
            )
            await self._notifier.send_text(oauth_state.chat_id, _declined_message())
            return ConnectResult(ConnectOutcome.DENIED)

        return await self._connect(
            telegram_user_id=oauth_state.telegram_user_id, chat_id=oauth_state.chat_id, code=code
        )

    async def status(self, telegram_user_id: int) -> ConnectionInfo | None:
        """Return the user's connection in any status, or None when there is none.

        A connection that Meta deauthorized stays, without its token, as DISCONNECTED
        until the user connects again or sends /disconnect.
        """
        account = await self._storage.get_account_for_user(telegram_user_id)
        if account is None:
            return None
        return ConnectionInfo(
            account_id=account.id,
            username=account.username,
            account_type=account.account_type,
            status=account.status,
            token_expires_at=account.token_expires_at,
            connected_at=account.connected_at,
        )

    async def check_disconnect(self, telegram_user_id: int, account_id: int) -> DisconnectCheck:
        """Decide whether a confirmation about `account_id` may disconnect this user."""
        current = await self._storage.get_account_for_user(telegram_user_id)
        if current is not None and current.id == account_id:
            return DisconnectCheck.CURRENT
        named = await self._storage.get_account(account_id)
        if named is not None and named.telegram_user_id != telegram_user_id:
            return DisconnectCheck.FOREIGN
        return DisconnectCheck.EXPIRED

    async def disconnect(self, telegram_user_id: int, *, account_id: int | None = None) -> bool:
        """Delete the user's account with its token, browsing state, cached files and
        subscriptions; False if nothing was connected.

        With `account_id`, only that account is deleted: False when the user has connected
        another account since the question was asked.
        """
        deleted = await self._storage.delete_account_for_user(
            telegram_user_id, account_id=account_id
        )
        if deleted:
            logger.info("User %s disconnected their Instagram account", telegram_user_id)
        return deleted

    async def _connect(self, *, telegram_user_id: int, chat_id: int, code: str) -> ConnectResult:
        try:
            token = await self._instagram.long_lived_token_from_code(code)
            profile = await self._instagram.profile(token.access_token)
        except AuthorizationCodeError as exc:
            logger.info("Instagram rejected the code for user %s: %s", telegram_user_id, exc)
            return ConnectResult(ConnectOutcome.REJECTED_CODE)
        except (InstagramUnavailableError, RateLimitError) as exc:
            logger.warning(
                "Instagram unavailable while connecting user %s: %s", telegram_user_id, exc
            )
            return ConnectResult(ConnectOutcome.INSTAGRAM_UNAVAILABLE)
        except InstagramError as exc:
            logger.warning("Instagram failed while connecting user %s: %s", telegram_user_id, exc)
            return ConnectResult(ConnectOutcome.INSTAGRAM_UNAVAILABLE)

        account_type = (profile.account_type or "").upper()
        if not self._is_supported(account_type):
            logger.info(
                "User %s authorized a %s account, which the %s API cannot serve",
                telegram_user_id,
                account_type,
                self._settings.instagram_api.value,
            )
            await self._notifier.send_text(chat_id, _unsupported_message(profile.username))
            return ConnectResult(
                ConnectOutcome.UNSUPPORTED_ACCOUNT,
                username=profile.username,
                account_type=account_type,
            )

        await self._save(telegram_user_id, token, profile, account_type)
        await self._notifier.send_text(chat_id, _connected_message(profile.username))
        return ConnectResult(
            ConnectOutcome.CONNECTED,
            username=profile.username,
            account_type=account_type,
            token_expires_at=token.expires_at,
        )

    async def _save(
        self, telegram_user_id: int, token: LongLivedToken, profile: Profile, account_type: str
    ) -> None:
        # The code exchange returns the app-scoped user id, which Meta's deauthorize and
        # deletion callbacks also carry. The profile's id is only a fallback.
        instagram_user_id = token.user_id or profile.user_id
        account = await self._storage.save_account(
            telegram_user_id=telegram_user_id,
            instagram_user_id=instagram_user_id,
            username=profile.username,
            account_type=account_type or "UNKNOWN",
            access_token=token.access_token,
            token_issued_at=token.issued_at,
            token_expires_at=token.expires_at,
            now=self._clock(),
        )
        logger.info(
            "User %s connected Instagram user %s as account %s",
            telegram_user_id,
            instagram_user_id,
            account.id,
        )

    def _is_supported(self, account_type: str) -> bool:
        if self._settings.instagram_api is not InstagramFlavor.INSTAGRAM_LOGIN:
            return True
        # Business and creator types are spelled in several ways, and a missing type is
        # given the benefit of the doubt, so only an explicit personal account is turned away.
        return account_type != _PERSONAL_ACCOUNT_TYPE


def _connected_message(username: str) -> str:
    return (
        f"Connected as <b>@{html.escape(username)}</b>.\n\n"
        "Send /media to browse your posts, /latest for the newest photo, or type my name "
        "in any chat to share a photo. /status shows the connection."
    )


def _declined_message() -> str:
    return (
        "You declined the Instagram authorization, so nothing was connected. "
        "Send /connect to try again."
    )


def _unsupported_message(username: str) -> str:
    return (
        f"<b>@{html.escape(username)}</b> is a personal Instagram account, and Instagram "
        "only lets apps read the posts of Business and Creator accounts. Switch the account "
        "to a professional one in the Instagram app (Settings → Account type and tools), "
        "then send /connect again."
    )
