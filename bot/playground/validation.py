"""Checks that the fake Bot API applies to parameters, with Telegram's error texts."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from bot.playground.errors import bad_request
from bot.playground.text import EntityParseError, parse_formatted, utf16_length

__all__ = [
    "MAX_ALBUM_ITEMS",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_INLINE_RESULTS",
    "MAX_TEXT_LENGTH",
    "formatted_caption",
    "formatted_text",
    "validate_commands",
    "validate_inline_results",
    "validate_reply_markup",
]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_ALBUM_ITEMS = 10
MAX_INLINE_RESULTS = 50
MAX_RESULT_ID_BYTES = 64
MAX_COMMANDS = 100

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
# Exactly one of these fields gives an inline keyboard button its action.
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "login_url",
    "web_app",
    "copy_text",
    "callback_game",
    "pay",
)


def _parse(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    try:
        return parse_formatted(text, parse_mode)
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from exc


def formatted_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Return the visible text and entities of a message text, checking its length.

    Explicit entities win over parse_mode, as in the Bot API.
    """
    visible, parsed_entities = (text, entities) if entities else _parse(text, parse_mode)
    if not visible.strip():
        raise bad_request("message text is empty")
    if utf16_length(visible) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return visible, parsed_entities


def formatted_caption(
    caption: str | None, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Return the visible caption and entities, checking the 1024 UTF-16 unit limit."""
    if not caption:
        return "", []
    visible, parsed_entities = (caption, entities) if entities else _parse(caption, parse_mode)
    if utf16_length(visible) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return visible, parsed_entities


def validate_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Check a reply_markup object and return it, or None when absent."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _validate_inline_keyboard(markup["inline_keyboard"])
    elif not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup


def _validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            _validate_button(button)


def _validate_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    actions = [name for name in _BUTTON_ACTIONS if name in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )

    if "callback_data" in button:
        data = str(button["callback_data"]).encode()
        if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = str(button["url"])
        parts = urlsplit(url)
        has_host = parts.scheme in ("http", "https") and bool(parts.netloc)
        if not (has_host or parts.scheme == "tg"):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def validate_inline_results(results: Any) -> list[dict[str, Any]]:
    """Check answerInlineQuery results: at most 50, each with a unique id of 1 to 64 bytes."""
    if not isinstance(results, list):
        raise bad_request("can't parse inline query results JSON object")
    if len(results) > MAX_INLINE_RESULTS:
        raise bad_request("RESULTS_TOO_MUCH")

    seen: set[str] = set()
    for result in results:
        if not isinstance(result, dict) or "type" not in result:
            raise bad_request("can't parse InlineQueryResult JSON object")
        result_id = str(result.get("id", ""))
        if not 1 <= len(result_id.encode()) <= MAX_RESULT_ID_BYTES:
            raise bad_request("RESULT_ID_INVALID")
        if result_id in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        validate_reply_markup(result.get("reply_markup"))
    return results


def validate_commands(commands: Any) -> list[dict[str, str]]:
    """Check setMyCommands commands: at most 100, lowercase names, non-empty descriptions."""
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise bad_request("too many commands specified")

    checked = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand JSON object")
        name = str(command.get("command", "")).removeprefix("/")
        description = str(command.get("description", ""))
        if not _COMMAND_NAME.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        checked.append({"command": name, "description": description})
    return checked
