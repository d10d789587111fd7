"""Webhook delivery of the fake Bot API: POST each queued update to the bot's URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.playground.errors import bad_request
from bot.playground.files import is_loopback_http_url
from bot.playground.state import TelegramState

__all__ = ["WebhookDelivery"]

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0)


class WebhookDelivery:
    """Sends queued updates one at a time to the webhook URL, retrying failed deliveries."""

    def __init__(self, state: TelegramState, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._state = state
        self._session = session
        self.url = ""
        self._secret_token: str | None = None
        self._max_connections = 40
        self._task: asyncio.Task[None] | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.delivered: list[dict[str, Any]] = []

    def set(self, url: str, secret_token: str | None, max_connections: int) -> None:
        """Point delivery at a loopback URL and start the sender task if needed."""
        if not is_loopback_http_url(url):
            # The fake only reaches servers on this machine.
            raise bad_request("bad webhook: only loopback http(s) URLs are allowed")
        if secret_token is not None and not _valid_secret(secret_token):
            raise bad_request("bad webhook: secret token contains unallowed characters")

        self.url = url
        self._secret_token = secret_token or None
        self._max_connections = max_connections
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="fake-telegram-webhook")

    async def delete(self) -> None:
        """Stop delivery and forget the URL."""
        self.url = ""
        self._secret_token = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def info(self, pending_update_count: int) -> dict[str, Any]:
        """Return the WebhookInfo object."""
        info: dict[str, Any] = {
            "url": self.url,
            "has_custom_certificate": False,
            "pending_update_count": pending_update_count,
        }
        if self.url:
            info["max_connections"] = self._max_connections
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._state.updates:
                await self._state.updates_changed.wait()
                continue
            update = self._state.updates[0]
            error = await self._post(update)
            if error is None:
                failures = 0
                self.delivered.append(update)
                if self._state.updates and self._state.updates[0] is update:
                    self._state.updates.pop(0)
                continue

            self.last_error_date = int(time.time())
            self.last_error_message = error
            logger.warning("Webhook delivery of update %s failed: %s", update["update_id"], error)
            await asyncio.sleep(_RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)])
            failures += 1

    async def _post(self, update: dict[str, Any]) -> str | None:
        headers = {SECRET_HEADER: self._secret_token} if self._secret_token else {}
        try:
            async with self._session().post(self.url, json=update, headers=headers) as response:
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"Connection failed: {type(exc).__name__}"


def _valid_secret(secret_token: str) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return 1 <= len(secret_token) <= 256 and set(secret_token) <= allowed
