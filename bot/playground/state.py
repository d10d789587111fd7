"""Users, chats, messages and the update queue of the fake Bot API."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from bot.playground.errors import BotApiError, bad_request
from bot.playground.files import FileStore

__all__ = ["ChatRecord", "HistoryEntry", "PendingQuery", "TelegramState"]

# Update types a bot receives when it never set allowed_updates.
_DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "my_chat_member",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "chat_join_request",
    }
)


@dataclass
class HistoryEntry:
    """A message in a chat's history with the revision of its last change."""

    message: dict[str, Any]
    revision: int
    deleted: bool = False


@dataclass
class PendingQuery:
    """A callback or inline query sent to the bot, and the answer once the bot gives it."""

    user_id: int
    chat_id: int | None
    query: str
    answer: asyncio.Future[dict[str, Any]]


@dataclass
class ChatRecord:
    """A chat that the fake server stores, with its message history."""

    id: int
    type: str
    title: str | None = None
    user: dict[str, Any] | None = None
    admins: list[int] = field(default_factory=list)
    members: set[int] = field(default_factory=set)
    history: dict[int, HistoryEntry] = field(default_factory=dict)
    next_message_id: int = 1
    migrated_to: int | None = None
    bot_blocked: bool = False

    def to_api(self) -> dict[str, Any]:
        """Return the Chat object as it appears inside messages."""
        if self.type == "private" and self.user is not None:
            chat = {"id": self.id, "type": "private", "first_name": self.user["first_name"]}
            if "username" in self.user:
                chat["username"] = self.user["username"]
            return chat
        chat = {"id": self.id, "type": self.type, "title": self.title or ""}
        if self.type == "group":
            chat["all_members_are_administrators"] = False
        return chat


class TelegramState:
    """Everything the fake server holds, shared by the API methods and the playground."""

    def __init__(self, bot_user: dict[str, Any]) -> None:
        self.bot_user = bot_user
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.files = FileStore()
        self.updates: list[dict[str, Any]] = []
        self.allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._update_ids = itertools.count(10001)
        self._revisions = itertools.count(1)
        self.updates_changed = asyncio.Event()
        self.history_changed = asyncio.Event()

    # Users and chats

    def add_user(
        self, user_id: int, first_name: str | None = None, username: str | None = None
    ) -> dict[str, Any]:
        """Register a user, or return the existing one; the User object is returned."""
        if user_id in self.users:
            return self.users[user_id]
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User {user_id}",
            "language_code": "en",
        }
        if username:
            user["username"] = username
        self.users[user_id] = user
        return user

    def private_chat(self, user_id: int) -> ChatRecord:
        """Return the private chat between the bot and a user, creating both if needed."""
        chat = self.chats.get(user_id)
        if chat is None:
            user = self.add_user(user_id)
            chat = ChatRecord(id=user_id, type="private", user=user, members={user_id})
            self.chats[user_id] = chat
        return chat

    def add_group(
        self, chat_id: int, title: str, admins: list[int], chat_type: str = "group"
    ) -> ChatRecord:
        """Register a group whose admins (the first one is the creator) are also members."""
        for admin_id in admins:
            self.add_user(admin_id)
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = ChatRecord(id=chat_id, type=chat_type, title=title)
            self.chats[chat_id] = chat
        chat.title = title
        chat.admins = list(admins)
        chat.members.update(admins)
        return chat

    def chat_for_update(self, user_id: int, chat_id: int | None, chat_type: str) -> ChatRecord:
        """Return the chat a user writes in, registering a group seen for the first time."""
        self.add_user(user_id)
        if chat_id is None or chat_type == "private":
            return self.private_chat(user_id if chat_id is None else chat_id)
        chat = self.chats.get(chat_id) or self.add_group(chat_id, f"Group {-chat_id}", [])
        chat.members.add(user_id)
        return chat

    def chat_for_bot(self, chat_id: int | str | None) -> ChatRecord:
        """Return the chat the bot addresses, or raise the error Telegram gives for it."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str):
            chat_id = self._chat_id_from_string(chat_id)

        chat = self.chats.get(chat_id)
        if chat is None and chat_id > 0:
            chat = self.private_chat(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise BotApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.bot_blocked:
            raise BotApiError(403, f"Forbidden: {_blocked_reason(chat.type)}")
        return chat

    def _chat_id_from_string(self, chat_id: str) -> int:
        try:
            return int(chat_id)
        except ValueError:
            pass
        for chat in self.chats.values():
            username = (chat.user or {}).get("username")
            if username and f"@{username}" == chat_id:
                return chat.id
        raise bad_request("chat not found")

    # Messages

    def add_message(
        self, chat: ChatRecord, sender: dict[str, Any], fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a new message in the chat's history and return the Message object."""
        message = {
            "message_id": chat.next_message_id,
            "from": sender,
            "chat": chat.to_api(),
            "date": int(time.time()),
            **fields,
        }
        chat.next_message_id += 1
        chat.history[message["message_id"]] = HistoryEntry(message, next(self._revisions))
        self._notify_history()
        return message

    def find_message(self, chat: ChatRecord, message_id: int) -> dict[str, Any] | None:
        """Return a message of the chat that was not deleted, or None."""
        entry = chat.history.get(message_id)
        if entry is None or entry.deleted:
            return None
        return entry.message

    def replace_message(self, chat: ChatRecord, message: dict[str, Any]) -> None:
        """Store an edited message and mark it changed for history readers."""
        chat.history[message["message_id"]] = HistoryEntry(message, next(self._revisions))
        self._notify_history()

    def delete_message(self, chat: ChatRecord, message_id: int) -> bool:
        """Mark a message deleted; return False when there was no such message."""
        entry = chat.history.get(message_id)
        if entry is None or entry.deleted:
            return False
        entry.deleted = True
        entry.revision = next(self._revisions)
        self._notify_history()
        return True

    def history_since(self, chat_id: int, revision: int) -> list[HistoryEntry]:
        """Return the chat's entries changed after a revision, oldest change first."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        entries = [entry for entry in chat.history.values() if entry.revision > revision]
        return sorted(entries, key=lambda entry: entry.revision)

    def _notify_history(self) -> None:
        self.history_changed.set()
        self.history_changed = asyncio.Event()

    # Updates

    def enqueue(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update of that type unless allowed_updates excludes it; return it."""
        update = {"update_id": next(self._update_ids), update_type: payload}
        if update_type in self.allowed_updates:
            self.updates.append(update)
            self.wake_pollers()
        return update

    def wake_pollers(self) -> None:
        """Wake every waiting getUpdates request and webhook sender."""
        self.updates_changed.set()
        self.updates_changed = asyncio.Event()

    def confirm_updates(self, offset: int) -> None:
        """Forget updates before offset; a negative offset keeps only the last -offset ones."""
        if offset < 0:
            self.updates = self.updates[offset:]
        elif offset > 0:
            self.updates = [update for update in self.updates if update["update_id"] >= offset]

    def set_allowed_updates(self, allowed_updates: list[str] | None) -> None:
        """Apply an allowed_updates parameter; None keeps the current setting."""
        if allowed_updates is None:
            return
        self.allowed_updates = (
            frozenset(allowed_updates) if allowed_updates else _DEFAULT_UPDATE_TYPES
        )


def _blocked_reason(chat_type: str) -> str:
    if chat_type == "private":
        return "bot was blocked by the user"
    if chat_type == "supergroup":
        return "bot was kicked from the supergroup chat"
    return "bot was kicked from the group chat"
