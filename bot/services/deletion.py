"""Meta's deauthorize and data-deletion callbacks, and carrying out deletion requests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.clock import Clock, utc_now
from bot.instagram import InvalidSignedRequest, SignedRequest, parse_signed_request
from storage import DeletionStatus, StorageError

if TYPE_CHECKING:
    from bot.config import Settings
    from storage import DeletionRequest, Storage

__all__ = [
    "SIGNED_REQUEST_MAX_AGE",
    "SIGNED_REQUEST_MAX_SKEW",
    "DeletionService",
    "is_confirmation_code",
]

logger = logging.getLogger(__name__)

# Confirmation codes are 32 lowercase hex characters (128 bits).
_CONFIRMATION_CODE = re.compile(r"[0-9a-f]{32}")

# Freshness policy of Meta's signed requests. Meta sets `issued_at` to the time it sends a
# callback. A request issued more than SIGNED_REQUEST_MAX_AGE ago, or later than
# SIGNED_REQUEST_MAX_SKEW from now, is rejected with 400, so a captured request cannot be
# replayed later. A payload without `issued_at`, which Meta does not send, is accepted:
# only the holder of the app secret can sign one, and it could sign a fresh time as well.
# NOTE: Meta documents no retry window for these callbacks; 7 days is a generous guess so
# that a delayed retry still gets through.
SIGNED_REQUEST_MAX_AGE = timedelta(days=7)
# Tolerated difference between Meta's clock and this host's clock.
SIGNED_REQUEST_MAX_SKEW = timedelta(minutes=5)


def is_confirmation_code(value: str) -> bool:
    """Return whether `value` has the shape of a confirmation code this service issues."""
    return bool(_CONFIRMATION_CODE.fullmatch(value))


class DeletionService:
    """Verify Meta's signed callbacks, record deletion requests and carry them out."""

    def __init__(self, *, storage: Storage, settings: Settings, clock: Clock = utc_now) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        # One deletion at a time, so the request handler and the scheduled job never run
        # the same request twice concurrently.
        self._lock = asyncio.Lock()

    def verify_signed_request(self, raw: str) -> SignedRequest:
        """Verify a `signed_request` with the app secret and check that it is fresh.

        Raises:
            InvalidSignedRequest: the value is malformed, its signature does not match, or
                its `issued_at` is outside the freshness window.
        """
        signed = parse_signed_request(raw, self._app_secret())
        if signed.issued_at is None:
            return signed
        now = self._clock().timestamp()
        if signed.issued_at < now - SIGNED_REQUEST_MAX_AGE.total_seconds():
            raise InvalidSignedRequest(
                f"signed_request is too old: issued more than "
                f"{SIGNED_REQUEST_MAX_AGE.days} days ago"
            )
        if signed.issued_at > now + SIGNED_REQUEST_MAX_SKEW.total_seconds():
            raise InvalidSignedRequest("signed_request has an issued_at in the future")
        return signed

    async def deauthorize(self, instagram_user_id: str) -> int:
        """Mark every connection of the Instagram user disconnected and forget its tokens."""
        changed = await self._storage.disconnect_instagram_user(
            instagram_user_id, now=self._clock()
        )
        logger.info(
            "Deauthorized Instagram user %s: %d connections disconnected",
            instagram_user_id,
            changed,
        )
        return changed

    async def request_deletion(
        self, instagram_user_id: str, *, issued_at: int | None = None
    ) -> DeletionRequest:
        """Record a pending deletion request under an unguessable confirmation code.

        With `issued_at` from the signed request, the code is derived from the user id and
        `issued_at` with the app secret, so a replay of the same signed request returns the
        request recorded the first time instead of creating another. Without it, the code
        is random. A request for a user that was never stored still gets a code, and
        completes with nothing to delete.
        """
        code = self._confirmation_code(instagram_user_id, issued_at)
        existing = await self._storage.get_deletion_request(code)
        if existing is not None and existing.instagram_user_id == instagram_user_id:
            logger.info(
                "Repeated deletion request %s for Instagram user %s", code, instagram_user_id
            )
            return existing
        try:
            request = await self._storage.create_deletion_request(
                confirmation_code=code, instagram_user_id=instagram_user_id, now=self._clock()
            )
        except StorageError:
            # The same signed request arrived twice at once and the other one stored it.
            concurrent = await self._storage.get_deletion_request(code)
            if concurrent is None:
                raise
            return concurrent
        logger.info(
            "Recorded deletion request %s for Instagram user %s",
            request.confirmation_code,
            instagram_user_id,
        )
        return request

    async def carry_out(self, confirmation_code: str) -> bool:
        """Delete the data of one pending request and mark it completed; False if it was
        unknown or already completed."""
        async with self._lock:
            request = await self._storage.get_deletion_request(confirmation_code)
            if request is None or request.status is DeletionStatus.COMPLETED:
                return False
            await self._complete(request)
        return True

    async def process_pending(self) -> int:
        """Carry out every pending deletion request; return how many were completed."""
        completed = 0
        async with self._lock:
            for request in await self._storage.pending_deletion_requests():
                await self._complete(request)
                completed += 1
        return completed

    async def status(self, confirmation_code: str) -> DeletionRequest | None:
        """Return the request behind a confirmation code, or None for an unknown or
        malformed code."""
        if not is_confirmation_code(confirmation_code):
            return None
        return await self._storage.get_deletion_request(confirmation_code)

    def _app_secret(self) -> str:
        secret = self._settings.instagram_client_secret
        return secret.get_secret_value() if secret is not None else ""

    def _confirmation_code(self, instagram_user_id: str, issued_at: int | None) -> str:
        app_secret = self._app_secret()
        if issued_at is None or not app_secret:
            return secrets.token_hex(16)
        message = f"data-deletion:{instagram_user_id}:{issued_at}".encode()
        digest = hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()
        return digest[:32]

    async def _complete(self, request: DeletionRequest) -> None:
        removed = await self._storage.delete_instagram_user_data(request.instagram_user_id)
        await self._storage.complete_deletion_request(request.confirmation_code, now=self._clock())
        logger.info(
            "Completed deletion request %s: %d accounts of Instagram user %s removed",
            request.confirmation_code,
            removed,
            request.instagram_user_id,
        )
