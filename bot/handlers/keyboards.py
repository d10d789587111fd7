"""Inline keyboards of the account commands, and the callback data their buttons carry."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.handlers import texts

__all__ = [
    "DISCONNECT_CALLBACK_DATA",
    "DISCONNECT_CALLBACK_PATTERN",
    "DISCONNECT_CANCEL_CHOICE",
    "DISCONNECT_CONFIRM_CHOICE",
    "MEDIA_CALLBACK_DATA",
    "MEDIA_CALLBACK_PATTERN",
    "START_PAYLOAD_CONNECT",
    "connect_keyboard",
    "disconnect_keyboard",
    "private_chat_keyboard",
    "reconnect_keyboard",
    "shows_button",
]

# Callback data of the /disconnect confirmation is `disconnect:<choice>:<account id>`, at
# most 34 bytes, within Telegram's 64-byte limit. The account id names the connection the
# question is about, so a question asked before the user connected another account, or a
# question of another user, cannot disconnect the wrong account.
DISCONNECT_CONFIRM_CHOICE = "yes"
DISCONNECT_CANCEL_CHOICE = "no"
# Routes every `disconnect:` button to one handler, which parses it with the strict form.
DISCONNECT_CALLBACK_PATTERN = r"^disconnect:"
DISCONNECT_CALLBACK_DATA = r"disconnect:(yes|no):([1-9][0-9]{0,18})"

# Deep-link payload of the "Open a private chat" button that goes on to /connect.
START_PAYLOAD_CONNECT = "connect"


def shows_button(message: object, callback_data: str) -> bool:
    """Return whether the message carries an inline button with exactly this callback data.

    Clients can send any callback data with a press on any of the bot's messages, so a
    handler that acts on the data checks first that the pressed message shows the button.
    """
    # An old message comes as an InaccessibleMessage, which has no keyboard to check.
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    return any(
        button.callback_data == callback_data
        for row in message.reply_markup.inline_keyboard
        for button in row
    )


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


def private_chat_keyboard(
    bot_username: str, start_payload: str | None = START_PAYLOAD_CONNECT
) -> InlineKeyboardMarkup:
    """Build one URL button that opens a private chat with the bot.

    With the default payload the private chat goes on to /connect; with None it just opens.
    """
    url = f"https://t.me/{bot_username}"
    if start_payload is not None:
        url = f"{url}?start={start_payload}"
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.OPEN_PRIVATE_CHAT_BUTTON, url=url)]])


def disconnect_keyboard(account_id: int) -> InlineKeyboardMarkup:
    """Build the Yes and Cancel buttons under the /disconnect question about one account."""
    confirm = f"disconnect:{DISCONNECT_CONFIRM_CHOICE}:{account_id}"
    cancel = f"disconnect:{DISCONNECT_CANCEL_CHOICE}:{account_id}"
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
# Routes every `m:` button to the paging handler, which parses it with the strict form. Page
# numbers have at most 6 digits, which no browsing session reaches.
MEDIA_CALLBACK_PATTERN = r"^m:"
MEDIA_CALLBACK_DATA = r"m:([A-Za-z0-9_-]{1,32}):(0|[1-9][0-9]{0,5})"
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
