"""Services and process state that the web routes read, stored on the aiohttp application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["WEB_CONTEXT", "WebContext", "WebhookTarget"]


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Target of the updates that `POST /telegram/webhook` verifies, and the secret it checks.

    `deliver` returns False while the bot is shutting down, and raises ValueError for a
    body that is not a Telegram update.
    """

    secret: str = field(repr=False)
    deliver: Callable[[dict[str, Any]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class WebContext:
    """Services and process state that the routes read.

    `bot_link_url` is the link from pages back to the bot (`https://t.me/<bot_username>`
    unless the demo replaces it), and `scheduler_running` reports the scheduler for
    `/healthz`. `webhook` is None under long polling, which leaves the
    webhook route unregistered.
    """

    services: Services
    bot_username: str
    scheduler_running: Callable[[], bool]
    webhook: WebhookTarget | None = None
    bot_link_url: str = ""

    @property
    def back_to_bot_url(self) -> str:
        """The link from web pages back to the bot."""
        return self.bot_link_url or f"https://t.me/{self.bot_username}"


WEB_CONTEXT = web.AppKey("web_context", WebContext)
