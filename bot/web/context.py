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

    `bot_username` links pages back to the bot, and `scheduler_running` reports the
    scheduler for `/healthz`. `webhook` is None under long polling, which leaves the
    webhook route unregistered.
    """

    services: Services
    bot_username: str
    scheduler_running: Callable[[], bool]
    webhook: WebhookTarget | None = None


WEB_CONTEXT = web.AppKey("web_context", WebContext)
