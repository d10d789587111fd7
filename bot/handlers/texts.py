"""Texts that the bot sends to users, in Telegram's HTML parse mode.

Every handler module takes its user-facing wording from here, so the bot speaks with one
voice and the wording can be reviewed in one place. Values inserted into HTML are escaped
by the functions below.
"""

from __future__ import annotations

import html
from datetime import datetime

__all__ = [
    "BOT_COMMANDS",
    "CONNECT_BUTTON",
    "CONNECT_IN_PRIVATE",
    "CONNECT_PROMPT",
    "DISCONNECT_CANCELLED",
    "DISCONNECT_CANCEL_BUTTON",
    "DISCONNECT_CONFIRM_BUTTON",
    "DISCONNECT_DONE",
    "DISCONNECT_NOTHING",
    "ERROR_GENERIC",
    "NOT_CONNECTED",
    "NOT_YOUR_BUTTON",
    "OPEN_PRIVATE_CHAT_BUTTON",
    "RECONNECT_BUTTON",
    "deauthorized_text",
    "disconnect_confirm_text",
    "help_text",
    "start_text",
    "status_text",
]

# (command, description) pairs sent with setMyCommands, in the order clients list them.
BOT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "What this bot does"),
    ("help", "List the commands"),
    ("connect", "Connect your Instagram account"),
    ("status", "Show the connected account"),
    ("media", "Browse your posts as albums"),
    ("latest", "Send your newest photos: /latest 3"),
    ("subscribe", "Post your new photos in this group"),
    ("unsubscribe", "Stop posting your photos in this group"),
    ("disconnect", "Disconnect Instagram and delete your data"),
)

CONNECT_BUTTON = "Connect Instagram"
RECONNECT_BUTTON = "Reconnect Instagram"
OPEN_PRIVATE_CHAT_BUTTON = "Open a private chat"
DISCONNECT_CONFIRM_BUTTON = "Yes, disconnect"
DISCONNECT_CANCEL_BUTTON = "Cancel"

CONNECT_PROMPT = (
    "Tap the button to sign in to Instagram and allow Gramlink to read your profile and "
    "posts. The link works once and expires in 10 minutes."
)
CONNECT_IN_PRIVATE = (
    "Connecting an account happens in a private chat, so your sign-in link stays yours. "
    "Tap the button and send /connect there."
)
NOT_CONNECTED = "No Instagram account is connected yet. Send /connect to connect one."
_DISCONNECT_CONFIRM = (
    "Disconnect <b>@{username}</b>? This deletes your token, your browsing state, cached "
    "files and group subscriptions. You can connect again at any time."
)
DISCONNECT_DONE = "Disconnected. Your Instagram data is deleted from Gramlink."
DISCONNECT_NOTHING = "Nothing to disconnect: no Instagram account is connected."
DISCONNECT_CANCELLED = "Cancelled. Your account stays connected."
NOT_YOUR_BUTTON = "This button belongs to someone else's question."
ERROR_GENERIC = "Something went wrong on our side. Please try again in a minute."


def start_text(first_name: str | None) -> str:
    """Greeting for /start: what the bot does and the next step."""
    greeting = f"Hi {html.escape(first_name)}!" if first_name else "Hi!"
    return (
        f"{greeting} I bring your Instagram photos into Telegram: as albums in this chat, "
        "in any chat through inline mode, and in groups that subscribe to your new posts.\n\n"
        "Send /connect to connect your Instagram account, or /help for every command."
    )


def help_text() -> str:
    """Text of the /help reply: one line per command."""
    lines = [f"/{command} — {html.escape(description)}" for command, description in BOT_COMMANDS]
    lines.append("")
    lines.append("In any chat, type my username and a space to pick one of your photos.")
    return "\n".join(lines)


def status_text(
    *,
    username: str,
    account_type: str,
    needs_reconnect: bool,
    token_expires_at: datetime | None,
) -> str:
    """Text of the /status reply for a connected account."""
    lines = [
        f"Connected as <b>@{html.escape(username)}</b> ({_account_type_label(account_type)})."
    ]
    if needs_reconnect:
        lines.append(
            "Instagram no longer accepts the saved sign-in. Tap the button to connect again."
        )
    elif token_expires_at is not None:
        lines.append(
            f"Access valid until {token_expires_at:%Y-%m-%d} (UTC); "
            "Gramlink renews it automatically."
        )
    return "\n".join(lines)


def deauthorized_text(username: str) -> str:
    """Text of the /status reply after the user removed Gramlink's access on Instagram."""
    return (
        f"Access to <b>@{html.escape(username)}</b> was removed in Instagram's settings, so "
        "Gramlink no longer has a token for it. Send /connect to connect again, or "
        "/disconnect to delete what is left."
    )


def disconnect_confirm_text(username: str) -> str:
    """Question that /disconnect sends before deleting anything."""
    return _DISCONNECT_CONFIRM.format(username=html.escape(username))


def _account_type_label(account_type: str) -> str:
    labels = {
        "BUSINESS": "business account",
        "MEDIA_CREATOR": "creator account",
        "CREATOR": "creator account",
        "PERSONAL": "personal account",
    }
    return labels.get(account_type.upper(), html.escape(account_type.lower() or "account"))
