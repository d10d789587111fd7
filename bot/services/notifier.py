"""Messages that services send to a chat outside of a handler, such as after the OAuth callback."""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError

__all__ = ["Notifier"]

logger = logging.getLogger(__name__)


class Notifier:
    """Send HTML text messages and report failures as a boolean instead of raising."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send_text(
        self, chat_id: int, text: str, *, url_button: tuple[str, str] | None = None
    ) -> bool:
        """Send `text` in HTML parse mode, optionally with one URL button (label, url).

        Returns False when Telegram rejects the message, for example because the user
        blocked the bot; the message text is never logged.
        """
        reply_markup = None
        if url_button is not None:
            label, url = url_button
            reply_markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url)]])

        try:
            await self._bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except Forbidden:
            logger.info("Chat %s blocked the bot or left; message not sent", chat_id)
            return False
        except TelegramError as exc:
            logger.warning(
                "Sending a message to chat %s failed: %s: %s", chat_id, type(exc).__name__, exc
            )
            return False
        return True
