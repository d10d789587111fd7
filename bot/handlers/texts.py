"""Texts that the bot sends to users, in Telegram's HTML parse mode.

Every handler module takes its user-facing wording from here, so the bot speaks with one
voice and the wording can be reviewed in one place. Values inserted into HTML are escaped
by the functions below.
"""

from __future__ import annotations

import html
import math
from datetime import datetime

__all__ = [
    "BOT_COMMANDS",
    "BUTTON_NO_LONGER_WORKS",
    "CONNECT_BUTTON",
    "CONNECT_IN_PRIVATE",
    "CONNECT_PROMPT",
    "DISCONNECT_ALREADY_ANSWERED",
    "DISCONNECT_CANCELLED",
    "DISCONNECT_CANCEL_BUTTON",
    "DISCONNECT_CONFIRM_BUTTON",
    "DISCONNECT_DONE",
    "DISCONNECT_EXPIRED",
    "DISCONNECT_NOTHING",
    "ERROR_GENERIC",
    "NOT_CONNECTED",
    "NOT_YOUR_BUTTON",
    "OPEN_PRIVATE_CHAT_BUTTON",
    "PHOTOS_IN_PRIVATE",
    "RECONNECT_BUTTON",
    "TEXT_NOT_UNDERSTOOD",
    "UNKNOWN_COMMAND",
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
    ("media", "Browse your posts as albums (private chat)"),
    ("latest", "Send your newest photos: /latest 3 (private chat)"),
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
DISCONNECT_ALREADY_ANSWERED = "This question has already been answered."
DISCONNECT_EXPIRED = (
    "This question has expired because the account it names is no longer connected. "
    "Send /disconnect to ask again."
)
NOT_YOUR_BUTTON = "This button belongs to someone else's question."
BUTTON_NO_LONGER_WORKS = "This button no longer works."
UNKNOWN_COMMAND = "I don't know that command. Send /help to see the commands I understand."
TEXT_NOT_UNDERSTOOD = (
    "I only understand commands. Send /help to see them, or /media to browse your posts."
)
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


# Photos: /media, /latest, inline mode and groups.

MEDIA_OLDER_BUTTON = "Older"
MEDIA_NEWER_BUTTON = "Newer"
MEDIA_STALE = "These buttons have expired. Send /media to browse again."
MEDIA_NO_OLDER = "There are no older posts."
MEDIA_NOTHING_YET = "Your Instagram account has no posts yet. Post something and try again."
NO_PHOTOS_YET = "Your Instagram account has no photos yet. Post one and try again."
NEEDS_RECONNECT = "Instagram no longer accepts your sign-in. Tap the button to connect again."
NEEDS_RECONNECT_IN_GROUP = (
    "Instagram no longer accepts your sign-in. Send /connect to me in a private chat."
)
INSTAGRAM_DOWN = "Instagram is not answering right now. Please try again in a few minutes."
TELEGRAM_BUSY = "Telegram asks me to slow down. Please try again in a minute."
LATEST_USAGE = "Send /latest for your newest photo, or /latest 5 for up to 10 photos."
PHOTOS_IN_PRIVATE = (
    "/media and /latest send many photos, so they work in a private chat with me. "
    "Tap the button and send the command there."
)
INLINE_CONNECT_BUTTON = "Connect Instagram to share photos"
INLINE_RECONNECT_BUTTON = "Reconnect Instagram to share photos"
SUBSCRIBE_IN_GROUP_ONLY = (
    "Add me to a group and send /subscribe there to post your new Instagram posts in it."
)
SUBSCRIBE_CONFIRM_BUTTON = "Confirm (admins)"
SUBSCRIBE_ADMINS_ONLY = "Only a group admin can confirm this."
SUBSCRIBE_STALE = "This request has expired. Ask for it again with /subscribe."
UNSUBSCRIBE_NOTHING = "This chat receives no Instagram posts."
UNSUBSCRIBE_NOT_ALLOWED = (
    "Only the member whose account is subscribed, or a group admin, can stop the posts."
)


def media_page_text(username: str | None, page: int) -> str:
    """Text of the control message under a /media page; `page` counts from 1."""
    who = f"@{html.escape(username)}" if username else "Your posts"
    return f"{who} · page {page}. Use the buttons for older or newer posts."


def rate_limited_text(retry_after: float | None) -> str:
    """Return the reply for a rate-limited Instagram request, with the wait when it is known."""
    if retry_after is None or retry_after <= 0:
        return "Instagram asks us to slow down. Please try again in a few minutes."
    minutes = max(1, math.ceil(retry_after / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Instagram asks us to slow down. Please try again in {minutes} {unit}."


def skipped_posts_text(permalinks: list[str]) -> str:
    """Note about posts that Instagram gives no media for, with links to open them."""
    links = ", ".join(
        f'<a href="{html.escape(url, quote=True)}">post {index}</a>'
        for index, url in enumerate(permalinks, start=1)
    )
    count = len(permalinks)
    subject = "One post" if count == 1 else f"{count} posts"
    return (
        f"{subject} could not be shown here because Instagram does not share its media with "
        f"apps, for example a reel with licensed music. Open on Instagram: {links}"
    )


def too_large_text(permalinks: list[str]) -> str:
    """Note about videos too large for a bot to upload, with links to watch them."""
    links = ", ".join(
        f'<a href="{html.escape(url, quote=True)}">video {index}</a>'
        for index, url in enumerate(permalinks, start=1)
    )
    return f"Some videos are too large for a bot to send. Watch them on Instagram: {links}"


def subscribe_needs_admin_text(username: str) -> str:
    """Request that a group admin confirms posting an account's new posts."""
    return (
        f"Post new Instagram posts of <b>@{html.escape(username)}</b> in this group? "
        "A group admin needs to confirm."
    )


def subscribed_text(username: str) -> str:
    """Confirmation that the group now receives an account's new posts."""
    return (
        f"Done: new posts of <b>@{html.escape(username)}</b> will appear here. "
        "Posts published before now are not sent. Send /unsubscribe to stop."
    )


def already_subscribed_text(username: str) -> str:
    """Return the reply when the group already receives an account's posts."""
    return f"This group already receives new posts of <b>@{html.escape(username)}</b>."


def unsubscribed_text(usernames: tuple[str, ...]) -> str:
    """Confirmation that the group no longer receives posts of these accounts."""
    names = ", ".join(f"<b>@{html.escape(name)}</b>" for name in usernames) or "the account"
    return f"Stopped: new posts of {names} will no longer appear here."
