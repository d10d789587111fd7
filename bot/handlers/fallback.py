"""Last-resort handlers: buttons that no other handler accepts, and unknown private messages."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.handlers import texts

if TYPE_CHECKING:
    from telegram.ext import Application, ContextTypes

__all__ = ["register", "unknown_button", "unknown_message"]

logger = logging.getLogger(__name__)

# Text and commands sent in a private chat, leaving out photos that the user posted there
# through the bot's own inline mode.
_PRIVATE_TEXT = (
    filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.TEXT & ~filters.VIA_BOT
)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the fallback handlers. Call this after every other module has added its own."""
    application.add_handler(CallbackQueryHandler(unknown_button))
    application.add_handler(MessageHandler(_PRIVATE_TEXT, unknown_message))


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a button press that no other handler accepts, so the client stops waiting."""
    query = update.callback_query
    if query is None:
        return
    # Only the length is logged: callback data comes from the client and may be forged.
    logger.debug(
        "Unrecognised button from user %s (%d bytes of data)",
        query.from_user.id,
        len((query.data or "").encode()),
    )
    await query.answer(texts.BUTTON_NO_LONGER_WORKS)


async def unknown_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point a private message that is no known command to /help; groups get no reply."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    text = texts.UNKNOWN_COMMAND if message.text.startswith("/") else texts.TEXT_NOT_UNDERSTOOD
    await message.reply_text(text)
