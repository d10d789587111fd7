"""Telegram side of the bot: command, button, inline and group handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram.ext import Application, ContextTypes

    from bot.services import Services

__all__ = ["SERVICES_KEY", "get_services", "register_handlers"]

# Key of the `Services` object in `application.bot_data`.
SERVICES_KEY = "services"


def get_services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """Return the services that `bot.app` stored in the application's bot_data."""
    services: Services = context.application.bot_data[SERVICES_KEY]
    return services


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register every handler module on the application, in the order they must match."""
    # Imported here so that handler modules can import `get_services` from this package.
    from bot.handlers import commands, fallback, groups, inline, media

    # Account commands, the disconnect confirmation and the global error handler.
    commands.register(application)
    # Photos: /media and /latest with paging buttons, inline mode, group subscriptions.
    media.register(application)
    inline.register(application)
    groups.register(application)
    # Last: answer buttons and private messages that no handler above accepted.
    fallback.register(application)
