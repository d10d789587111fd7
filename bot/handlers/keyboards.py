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


# /media paging buttons carry `m:<browsing session id>:<page>`; the session id has at most
# 16 characters, so the data stays far below 64 bytes. The state lives in the database, so
# the buttons keep working after a restart.
MEDIA_CALLBACK_PATTERN = r"^m:([A-Za-z0-9_-]{1,32}):(\d{1,6})$"
# The admin confirmation of /subscribe carries `sc:<account id>:<requesting user id>`.
SUBSCRIBE_CONFIRM_PATTERN = r"^sc:\d{1,20}:\d{1,20}$"


def media_callback_data(session_id: str, page: int) -> str:
    """Build the callback data of a /media paging button."""
    return f"m:{session_id}:{page}"


def media_keyboard(
    session_id: str, page: int, *, has_newer: bool, has_older: bool
) -> InlineKeyboardMarkup | None:
    """Build the Newer and Older buttons under a /media page, or None on a lone page."""
    row = []
    if has_newer:
        row.append(
            InlineKeyboardButton(
                texts.MEDIA_NEWER_BUTTON, callback_data=media_callback_data(session_id, page - 1)
            )
        )
    if has_older:
        row.append(
            InlineKeyboardButton(
                texts.MEDIA_OLDER_BUTTON, callback_data=media_callback_data(session_id, page + 1)
            )
        )
    return InlineKeyboardMarkup([row]) if row else None


def subscribe_confirm_keyboard(callback_data: str) -> InlineKeyboardMarkup:
    """Build the button that a group admin presses to confirm a subscription."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.SUBSCRIBE_CONFIRM_BUTTON, callback_data=callback_data)]]
    )
