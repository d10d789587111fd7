"""Inline keyboards of the account commands, and the callback data their buttons carry."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.handlers import texts

__all__ = [
    "DISCONNECT_CALLBACK_PATTERN",
    "DISCONNECT_CANCEL_CHOICE",
    "DISCONNECT_CONFIRM_CHOICE",
    "connect_keyboard",
    "disconnect_keyboard",
    "private_chat_keyboard",
    "reconnect_keyboard",
]

# Callback data of the /disconnect confirmation is `disconnect:<choice>:<telegram user id>`,
# at most 35 bytes, within Telegram's 64-byte limit. The user id lets a group tell whose
# question a button answers.
DISCONNECT_CONFIRM_CHOICE = "yes"
DISCONNECT_CANCEL_CHOICE = "no"
DISCONNECT_CALLBACK_PATTERN = r"^disconnect:(yes|no):(\d{1,20})$"


def connect_keyboard(authorization_url: str) -> InlineKeyboardMarkup:
    """Build one URL button that opens the Instagram authorization window."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.CONNECT_BUTTON, url=authorization_url)]]
    )


def reconnect_keyboard(authorization_url: str) -> InlineKeyboardMarkup:
    """Build one URL button that starts the authorization again for an account."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.RECONNECT_BUTTON, url=authorization_url)]]
    )


def private_chat_keyboard(bot_username: str) -> InlineKeyboardMarkup:
    """Build one URL button that opens a private chat with the bot and starts /connect."""
    url = f"https://t.me/{bot_username}?start=connect"
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.OPEN_PRIVATE_CHAT_BUTTON, url=url)]])


def disconnect_keyboard(telegram_user_id: int) -> InlineKeyboardMarkup:
    """Build the Yes and Cancel buttons under the /disconnect question of one user."""
    confirm = f"disconnect:{DISCONNECT_CONFIRM_CHOICE}:{telegram_user_id}"
    cancel = f"disconnect:{DISCONNECT_CANCEL_CHOICE}:{telegram_user_id}"
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.DISCONNECT_CONFIRM_BUTTON, callback_data=confirm),
                InlineKeyboardButton(texts.DISCONNECT_CANCEL_BUTTON, callback_data=cancel),
            ]
        ]
    )
