"""Meta's deauthorize and data-deletion callbacks, and carrying out deletion requests."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import TYPE_CHECKING

from bot.clock import Clock, utc_now
from bot.instagram import parse_signed_request
from storage import DeletionStatus

if TYPE_CHECKING:
    from bot.config import Settings
    from storage import DeletionRequest, Storage

__all__ = ["DeletionService", "is_confirmation_code"]

logger = logging.getLogger(__name__)

# Confirmation codes are 32 lowercase hex characters (128 random bits).
_CONFIRMATION_CODE = re.compile(r"[0-9a-f]{32}")


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

    def verify_signed_request(self, raw: str) -> str:
        """Return the Instagram user id of a `signed_request` signed with the app secret.

        Raises:
            InvalidSignedRequest: the value is malformed or its signature does not match.
        """
        secret = self._settings.instagram_client_secret
        app_secret = secret.get_secret_value() if secret is not None else ""
        return parse_signed_request(raw, app_secret).user_id

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

    async def request_deletion(self, instagram_user_id: str) -> DeletionRequest:
        """Record a pending deletion request under a new unguessable confirmation code.

        A request for a user that was never stored still gets a code, and completes with
        nothing to delete.
        """
        request = await self._storage.create_deletion_request(
            confirmation_code=secrets.token_hex(16),
            instagram_user_id=instagram_user_id,
            now=self._clock(),
        )
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

    async def _complete(self, request: DeletionRequest) -> None:
        removed = await self._storage.delete_instagram_user_data(request.instagram_user_id)
        await self._storage.complete_deletion_request(request.confirmation_code, now=self._clock())
        logger.info(
            "Completed deletion request %s: %d accounts of Instagram user %s removed",
            request.confirmation_code,
            removed,
            request.instagram_user_id,
        )
