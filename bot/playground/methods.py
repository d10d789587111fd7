"""Bot API methods of the fake server, keyed by their canonical names."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.playground.calls import ApiCall
from bot.playground.errors import BotApiError, bad_request
from bot.playground.files import StoredFile
from bot.playground.state import ChatRecord
from bot.playground.validation import (
    MAX_ALBUM_ITEMS,
    formatted_caption,
    formatted_text,
    validate_commands,
    validate_inline_results,
    validate_reply_markup,
)

if TYPE_CHECKING:
    from bot.playground.server import FakeTelegram

__all__ = ["METHODS", "find_method"]

Method = Callable[["FakeTelegram", ApiCall], Awaitable[Any]]

MAX_DOWNLOADABLE_FILE_BYTES = 20 * 1024 * 1024
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


# Bot and updates


async def get_me(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return the bot's User object."""
    return {
        **fake.state.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": True,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def get_updates(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return queued updates after offset, waiting up to timeout seconds for the first one."""
    if fake.webhook.url:
        raise BotApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    state = fake.state
    limit = min(max(call.integer("limit", 100) or 100, 1), 100)
    timeout = max(call.integer("timeout", 0) or 0, 0)
    state.set_allowed_updates(call.get("allowed_updates"))
    state.confirm_updates(call.integer("offset", 0) or 0)

    # A newer getUpdates request ends a waiting one with 409, as the real server does.
    fake.polling_generation += 1
    generation = fake.polling_generation
    state.wake_pollers()
    deadline = asyncio.get_running_loop().time() + timeout
    while not state.updates and not fake.stopping:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(state.updates_changed.wait(), remaining)
        except TimeoutError:
            break
        if fake.polling_generation != generation:
            raise BotApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
    return state.updates[:limit]


async def set_webhook(fake: FakeTelegram, call: ApiCall) -> Any:
    """Start delivering updates to a loopback URL."""
    url = call.text("url") or ""
    fake.state.set_allowed_updates(call.get("allowed_updates"))
    if call.flag("drop_pending_updates"):
        fake.state.updates.clear()
    if not url:
        await fake.webhook.delete()
        return True
    fake.webhook.set(url, call.text("secret_token"), call.integer("max_connections", 40) or 40)
    fake.state.wake_pollers()
    return True


async def delete_webhook(fake: FakeTelegram, call: ApiCall) -> Any:
    """Stop webhook delivery, optionally dropping pending updates."""
    await fake.webhook.delete()
    if call.flag("drop_pending_updates"):
        fake.state.updates.clear()
    return True


async def get_webhook_info(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return the WebhookInfo object."""
    info = fake.webhook.info(len(fake.state.updates))
    if fake.webhook.url:
        info["allowed_updates"] = sorted(fake.state.allowed_updates)
    return info


async def return_true(fake: FakeTelegram, call: ApiCall) -> Any:
    """Accept the request and return True (close, logOut, sendChatAction)."""
    return True


# Sending


def _outgoing_chat(fake: FakeTelegram, call: ApiCall) -> ChatRecord:
    return fake.state.chat_for_bot(call.chat_id())


def _reply_fields(fake: FakeTelegram, call: ApiCall, chat: ChatRecord) -> dict[str, Any]:
    reply_to = call.integer("reply_to_message_id")
    allow_missing = call.flag("allow_sending_without_reply")
    reply_parameters = call.get("reply_parameters")
    if isinstance(reply_parameters, dict):
        reply_to = int(reply_parameters.get("message_id", 0))
        allow_missing = bool(reply_parameters.get("allow_sending_without_reply", False))
    if reply_to is None:
        return {}

    original = fake.state.find_message(chat, reply_to)
    if original is not None:
        return {"reply_to_message": original}
    if allow_missing:
        return {}
    raise bad_request("message to be replied not found")


def _deliver(
    fake: FakeTelegram, call: ApiCall, chat: ChatRecord, fields: dict[str, Any]
) -> dict[str, Any]:
    markup = validate_reply_markup(call.get("reply_markup"))
    fields = {**_reply_fields(fake, call, chat), **fields}
    fake.check_flood(chat, 1)
    if markup is not None and "inline_keyboard" in markup:
        fields["reply_markup"] = markup
    return fake.state.add_message(chat, fake.state.bot_user, fields)


def _caption_fields(caption: str | None, parse_mode: str | None, entities: Any) -> dict[str, Any]:
    visible, caption_entities = formatted_caption(caption, parse_mode, entities)
    fields: dict[str, Any] = {}
    if visible:
        fields["caption"] = visible
    if caption_entities:
        fields["caption_entities"] = caption_entities
    return fields


async def send_message(fake: FakeTelegram, call: ApiCall) -> Any:
    """Send a text message, checking HTML, length and the inline keyboard."""
    chat = _outgoing_chat(fake, call)
    text, entities = formatted_text(
        call.text("text") or "", call.text("parse_mode"), call.get("entities")
    )
    fields: dict[str, Any] = {"text": text}
    if entities:
        fields["entities"] = entities
    return _deliver(fake, call, chat, fields)


def media_fields(stored: StoredFile, call_params: dict[str, Any]) -> dict[str, Any]:
    """Return the message field (photo, video or document) that shows a stored file."""
    base = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
    }
    if stored.kind == "photo":
        width, height = stored.dimensions
        return {"photo": [{**base, "width": width, "height": height}]}
    if stored.kind == "video":
        video = {
            **base,
            "width": int(call_params.get("width") or 640),
            "height": int(call_params.get("height") or 360),
            "duration": int(call_params.get("duration") or 0),
            "mime_type": stored.mime_type,
        }
        return {"video": video}
    document = {**base, "mime_type": stored.mime_type}
    if stored.file_name:
        document["file_name"] = stored.file_name
    return {"document": document}


async def _send_media(fake: FakeTelegram, call: ApiCall, kind: str) -> Any:
    chat = _outgoing_chat(fake, call)
    caption = _caption_fields(
        call.text("caption"), call.text("parse_mode"), call.get("caption_entities")
    )
    stored = await fake.resolve_media(kind, call.get(kind), call.uploads, field_name=kind)
    return _deliver(fake, call, chat, {**media_fields(stored, call.params), **caption})


async def send_photo(fake: FakeTelegram, call: ApiCall) -> Any:
    """Send a photo by URL, file_id or upload."""
    return await _send_media(fake, call, "photo")


async def send_video(fake: FakeTelegram, call: ApiCall) -> Any:
    """Send a video by URL, file_id or upload."""
    return await _send_media(fake, call, "video")


async def send_document(fake: FakeTelegram, call: ApiCall) -> Any:
    """Send a document by URL, file_id or upload."""
    return await _send_media(fake, call, "document")


async def send_media_group(fake: FakeTelegram, call: ApiCall) -> Any:
    """Send an album of 2 to 10 photos, videos or documents sharing one media_group_id."""
    chat = _outgoing_chat(fake, call)
    media = call.get("media")
    if not isinstance(media, list):
        raise bad_request("can't parse media JSON object")
    if len(media) > MAX_ALBUM_ITEMS:
        raise bad_request("too many messages to send as an album")
    if len(media) < 2:
        raise bad_request("media group must contain at least 2 items")

    items = []
    for item in media:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in ("photo", "video", "document"):
            raise bad_request("can't parse InputMedia JSON object")
        caption = _caption_fields(
            item.get("caption"), item.get("parse_mode"), item.get("caption_entities")
        )
        items.append((item, kind, caption))

    stored_items = []
    for item, kind, caption in items:
        stored = await fake.resolve_media(kind, item.get("media"), call.uploads)
        stored_items.append((item, stored, caption))

    fake.check_flood(chat, len(stored_items))
    media_group_id = fake.next_media_group_id()
    reply = _reply_fields(fake, call, chat)
    messages = []
    for item, stored, caption in stored_items:
        fields = {**reply, "media_group_id": media_group_id, **media_fields(stored, item)}
        messages.append(fake.state.add_message(chat, fake.state.bot_user, {**fields, **caption}))
    return messages


# Editing


def _editable_message(fake: FakeTelegram, call: ApiCall) -> tuple[ChatRecord, dict[str, Any]]:
    chat = _outgoing_chat(fake, call)
    message = fake.state.find_message(chat, call.required_integer("message_id"))
    if message is None:
        raise bad_request("message to edit not found")
    if message["from"]["id"] != fake.state.bot_user["id"]:
        raise bad_request("message can't be edited")
    return chat, message


def _apply_edit(
    fake: FakeTelegram,
    chat: ChatRecord,
    message: dict[str, Any],
    changes: dict[str, Any],
    markup: dict[str, Any] | None,
) -> dict[str, Any]:
    edited = copy.deepcopy(message)
    for name, value in changes.items():
        if value:
            edited[name] = value
        else:
            edited.pop(name, None)
    # Leaving out reply_markup in an edit removes the inline keyboard.
    if markup is not None and "inline_keyboard" in markup:
        edited["reply_markup"] = markup
    else:
        edited.pop("reply_markup", None)

    if edited == message:
        raise bad_request(_NOT_MODIFIED)
    edited["edit_date"] = int(time.time())
    fake.state.replace_message(chat, edited)
    return edited


async def edit_message_text(fake: FakeTelegram, call: ApiCall) -> Any:
    """Edit the text and keyboard of a bot message."""
    text, entities = formatted_text(
        call.text("text") or "", call.text("parse_mode"), call.get("entities")
    )
    markup = validate_reply_markup(call.get("reply_markup"))
    if call.text("inline_message_id"):
        return True
    chat, message = _editable_message(fake, call)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    return _apply_edit(fake, chat, message, {"text": text, "entities": entities}, markup)


async def edit_message_caption(fake: FakeTelegram, call: ApiCall) -> Any:
    """Edit the caption and keyboard of a bot media message."""
    caption = _caption_fields(
        call.text("caption"), call.text("parse_mode"), call.get("caption_entities")
    )
    markup = validate_reply_markup(call.get("reply_markup"))
    if call.text("inline_message_id"):
        return True
    chat, message = _editable_message(fake, call)
    if "text" in message:
        raise bad_request("there is no caption in the message to edit")
    changes = {
        "caption": caption.get("caption"),
        "caption_entities": caption.get("caption_entities"),
    }
    return _apply_edit(fake, chat, message, changes, markup)


async def edit_message_reply_markup(fake: FakeTelegram, call: ApiCall) -> Any:
    """Replace or remove the inline keyboard of a bot message."""
    markup = validate_reply_markup(call.get("reply_markup"))
    if call.text("inline_message_id"):
        return True
    chat, message = _editable_message(fake, call)
    return _apply_edit(fake, chat, message, {}, markup)


async def delete_message(fake: FakeTelegram, call: ApiCall) -> Any:
    """Delete a message from a chat's history."""
    chat = _outgoing_chat(fake, call)
    if not fake.state.delete_message(chat, call.required_integer("message_id")):
        raise bad_request("message to delete not found")
    return True


# Queries


async def answer_callback_query(fake: FakeTelegram, call: ApiCall) -> Any:
    """Record the answer to a pending callback query."""
    query_id = call.text("callback_query_id") or ""
    pending = fake.callback_queries.get(query_id)
    if pending is None or pending.answer.done():
        raise bad_request(_QUERY_INVALID)
    if len(call.text("text") or "") > 200:
        raise bad_request("MESSAGE_TOO_LONG")

    answer = {
        "text": call.text("text") or "",
        "show_alert": call.flag("show_alert"),
        "url": call.text("url"),
    }
    pending.answer.set_result(answer)
    return True


async def answer_inline_query(fake: FakeTelegram, call: ApiCall) -> Any:
    """Check and record the results for a pending inline query."""
    query_id = call.text("inline_query_id") or ""
    pending = fake.inline_queries.get(query_id)
    if pending is None or pending.answer.done():
        raise bad_request(_QUERY_INVALID)
    results = validate_inline_results(call.get("results", []))

    answer = {
        "results": results,
        "next_offset": call.text("next_offset") or "",
        "cache_time": call.integer("cache_time", 300),
        "is_personal": call.flag("is_personal"),
        "button": call.get("button"),
    }
    pending.answer.set_result(answer)
    return True


# Commands


def _commands_key(call: ApiCall) -> str:
    scope = call.get("scope") or {"type": "default"}
    return json.dumps([scope, call.text("language_code") or ""], sort_keys=True)


async def set_my_commands(fake: FakeTelegram, call: ApiCall) -> Any:
    """Store the command list for a scope and language."""
    fake.commands[_commands_key(call)] = validate_commands(call.get("commands", []))
    return True


async def get_my_commands(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return the command list for a scope and language."""
    return fake.commands.get(_commands_key(call), [])


async def delete_my_commands(fake: FakeTelegram, call: ApiCall) -> Any:
    """Forget the command list for a scope and language."""
    fake.commands.pop(_commands_key(call), None)
    return True


# Chats and files


async def get_chat(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return the ChatFullInfo object of a chat."""
    chat = _outgoing_chat(fake, call)
    return {
        **chat.to_api(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


def chat_member(fake: FakeTelegram, chat: ChatRecord, user_id: int) -> dict[str, Any]:
    """Return the ChatMember object of a user in a chat."""
    if user_id == fake.state.bot_user["id"]:
        return {"status": "member", "user": fake.state.bot_user}
    user = fake.state.users.get(user_id) or fake.state.add_user(user_id)
    if chat.admins and chat.admins[0] == user_id:
        return {"status": "creator", "user": user, "is_anonymous": False}
    if user_id in chat.admins:
        return {"status": "administrator", "user": user, **_ADMINISTRATOR_RIGHTS}
    if user_id in chat.members:
        return {"status": "member", "user": user}
    return {"status": "left", "user": user}


_ADMINISTRATOR_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
}


async def get_chat_member(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return a user's membership in a chat."""
    chat = _outgoing_chat(fake, call)
    return chat_member(fake, chat, call.required_integer("user_id"))


async def get_chat_administrators(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return the administrators of a group, from the admins given to add_group."""
    chat = _outgoing_chat(fake, call)
    if chat.type == "private":
        raise bad_request("there are no administrators in the private chat")
    return [chat_member(fake, chat, admin_id) for admin_id in chat.admins]


async def get_file(fake: FakeTelegram, call: ApiCall) -> Any:
    """Return the File object with the path to download a stored file."""
    stored = fake.state.files.get(call.text("file_id") or "")
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    if stored.file_size > MAX_DOWNLOADABLE_FILE_BYTES:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
        "file_path": stored.file_path,
    }


METHODS: dict[str, Method] = {
    "getMe": get_me,
    "logOut": return_true,
    "close": return_true,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "sendMessage": send_message,
    "sendPhoto": send_photo,
    "sendVideo": send_video,
    "sendDocument": send_document,
    "sendMediaGroup": send_media_group,
    "sendChatAction": return_true,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "answerCallbackQuery": answer_callback_query,
    "answerInlineQuery": answer_inline_query,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "getChat": get_chat,
    "getChatMember": get_chat_member,
    "getChatAdministrators": get_chat_administrators,
    "getFile": get_file,
}

_BY_LOWER_NAME = {name.lower(): name for name in METHODS}


def find_method(name: str) -> str | None:
    """Return the canonical name of a method; Bot API method names are case-insensitive."""
    return _BY_LOWER_NAME.get(name.lower())
