"""The playground web chat: its page, static files and JSON endpoints."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.playground.errors import BotApiError
from bot.playground.validation import MAX_TEXT_LENGTH

if TYPE_CHECKING:
    from bot.playground.server import FakeTelegram

__all__ = ["add_playground_routes"]

STATIC_DIR = Path(__file__).parent / "static"
_STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
MAX_HISTORY_WAIT_SECONDS = 25.0
ANSWER_WAIT_SECONDS = 10.0
_NO_STORE = {"Cache-Control": "no-store"}


def add_playground_routes(app: web.Application, fake: FakeTelegram) -> None:
    """Add the page, its static files, the JSON endpoints and stored files to app."""
    routes = PlaygroundRoutes(fake)
    app.router.add_get("/", routes.page)
    app.router.add_get("/playground/static/{name}", routes.static)
    app.router.add_get("/playground/files/{file_id}", routes.file)
    app.router.add_get("/playground/api/state", routes.state)
    app.router.add_get("/playground/api/chats/{chat_id}/messages", routes.history)
    app.router.add_post("/playground/api/messages", routes.post_message)
    app.router.add_post("/playground/api/callback", routes.press_button)
    app.router.add_post("/playground/api/inline", routes.inline_query)
    app.router.add_post("/playground/api/inline/choose", routes.choose_result)


class PlaygroundRoutes:
    """Handlers of the playground endpoints, acting on one FakeTelegram."""

    def __init__(self, fake: FakeTelegram) -> None:
        self._fake = fake

    async def page(self, request: web.Request) -> web.Response:
        """Serve the single-page web chat."""
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", headers=_page_headers())

    async def static(self, request: web.Request) -> web.Response:
        """Serve the page's script and style sheet."""
        name = request.match_info["name"]
        content_type = _STATIC_FILES.get(name)
        if content_type is None:
            raise web.HTTPNotFound
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        return web.Response(text=text, content_type=content_type, headers=_NO_STORE)

    async def file(self, request: web.Request) -> web.Response:
        """Serve a stored file by file_id, for photos and videos on the page."""
        stored = self._fake.state.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound
        headers = {"X-Content-Type-Options": "nosniff"}
        return web.Response(body=stored.data, content_type=stored.mime_type, headers=headers)

    async def state(self, request: web.Request) -> web.Response:
        """Return the bot, the users, the chats and the bot's default commands."""
        fake = self._fake
        chats = [
            {
                "id": chat.id,
                "type": chat.type,
                "title": chat.title or (chat.user or {}).get("first_name", ""),
                "members": sorted(chat.members),
                "migrated_to": chat.migrated_to,
            }
            for chat in fake.state.chats.values()
        ]
        default_commands = json.dumps([{"type": "default"}, ""], sort_keys=True)
        body = {
            "bot": fake.state.bot_user,
            "users": list(fake.state.users.values()),
            "chats": chats,
            "commands": fake.commands.get(default_commands, []),
        }
        return web.json_response(body, headers=_NO_STORE)

    async def history(self, request: web.Request) -> web.Response:
        """Return messages of a chat changed after ?since=, waiting up to ?wait= seconds."""
        chat_id = _query_int(request, "chat_id", request.match_info["chat_id"])
        since = _query_int(request, "since", request.query.get("since", "0"))
        wait = min(_query_int(request, "wait", request.query.get("wait", "0")), 25)

        state = self._fake.state
        deadline = asyncio.get_running_loop().time() + wait
        entries = state.history_since(chat_id, since)
        while not entries and not self._fake.stopping:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(state.history_changed.wait(), remaining)
            except TimeoutError:
                break
            entries = state.history_since(chat_id, since)

        body = {
            "revision": max((entry.revision for entry in entries), default=since),
            "messages": [
                {"revision": entry.revision, "deleted": entry.deleted, "message": entry.message}
                for entry in entries
            ],
        }
        return web.json_response(body, headers=_NO_STORE)

    async def post_message(self, request: web.Request) -> web.Response:
        """Send a text from a user into a chat, as an update for the bot."""
        payload = await _json_body(request)
        user_id = _int_field(payload, "user_id")
        chat_id = _int_field(payload, "chat_id")
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_LENGTH:
            raise _bad_input("text must be a non-empty string of at most 4096 characters")

        chat = self._fake.state.chats.get(chat_id)
        if chat is not None:
            chat_type = chat.type
        elif chat_id > 0:
            chat_type = "private"
        else:
            chat_type = "group"
        if chat is not None and chat.migrated_to is not None:
            raise _bad_input(f"chat {chat_id} was upgraded; use chat {chat.migrated_to}")
        update = self._fake.send_message(user_id, text, chat_id=chat_id, chat_type=chat_type)
        return web.json_response({"message": update["message"]})

    async def press_button(self, request: web.Request) -> web.Response:
        """Press a callback button and return the bot's answer, or null if none came."""
        payload = await _json_body(request)
        user_id = _int_field(payload, "user_id")
        chat_id = _int_field(payload, "chat_id")
        message_id = _int_field(payload, "message_id")
        data = payload.get("data")
        if not isinstance(data, str) or not data:
            raise _bad_input("data must be a non-empty string")

        update = self._fake.press_button(user_id, message_id, data, chat_id=chat_id)
        pending = self._fake.callback_queries[update["callback_query"]["id"]]
        answer = await _wait_answer(pending.answer)
        return web.json_response({"answer": answer})

    async def inline_query(self, request: web.Request) -> web.Response:
        """Send an inline query and return the bot's results, or null if none came."""
        payload = await _json_body(request)
        user_id = _int_field(payload, "user_id")
        query = payload.get("query", "")
        offset = payload.get("offset", "")
        if not isinstance(query, str) or len(query) > 256 or not isinstance(offset, str):
            raise _bad_input("query must be a string of at most 256 characters")

        chat_type = _inline_chat_type(self._fake, payload.get("chat_id"), user_id)
        update = self._fake.inline_query(user_id, query, offset, chat_type=chat_type)
        query_id = update["inline_query"]["id"]
        answer = await _wait_answer(self._fake.inline_queries[query_id].answer)
        return web.json_response({"query_id": query_id, "answer": answer})

    async def choose_result(self, request: web.Request) -> web.Response:
        """Choose an inline result: post its message into the chat and tell the bot."""
        payload = await _json_body(request)
        user_id = _int_field(payload, "user_id")
        chat_id = _int_field(payload, "chat_id")
        result_id = payload.get("result_id")
        if not isinstance(result_id, str):
            raise _bad_input("result_id must be a string")
        found = self._fake.find_inline_result(user_id, result_id)
        if found is None:
            raise _bad_input(f"no inline result {result_id!r} was offered to user {user_id}")

        try:
            message = await self._fake.post_inline_result(user_id, chat_id, found[1])
        except BotApiError as error:
            raise _bad_input(error.description) from None
        self._fake.choose_inline_result(user_id, result_id)
        return web.json_response({"message": message})


def _inline_chat_type(fake: FakeTelegram, chat_id: Any, user_id: int) -> str | None:
    chat = fake.state.chats.get(chat_id) if isinstance(chat_id, int) else None
    if chat is None:
        return None
    if chat.type == "private":
        return "sender" if chat.id == user_id else "private"
    return chat.type


async def _wait_answer(future: asyncio.Future[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(asyncio.shield(future), ANSWER_WAIT_SECONDS)
    except (TimeoutError, asyncio.CancelledError):
        return None


def _page_headers() -> dict[str, str]:
    # The page loads nothing from elsewhere; images may come from loopback fakes on other ports.
    policy = (
        "default-src 'self'; img-src 'self' http://127.0.0.1:* http://localhost:* data:; "
        "media-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    )
    return {**_NO_STORE, "Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"}


def _bad_input(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": reason}), content_type="application/json")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        raise _bad_input("request body must be JSON") from None
    if not isinstance(payload, dict):
        raise _bad_input("request body must be a JSON object")
    return payload


def _int_field(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_input(f"{name} must be an integer")
    return value


def _query_int(request: web.Request, name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _bad_input(f"{name} must be an integer") from None
