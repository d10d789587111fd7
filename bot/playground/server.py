"""FakeTelegram: an aiohttp server that speaks the Bot API, for tests and the demo."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import time
import zlib
from collections import defaultdict, deque
from typing import Any

import aiohttp
from aiohttp import web

from bot.playground.calls import ApiCall, RecordedCall, Upload
from bot.playground.errors import BotApiError, bad_request
from bot.playground.files import StoredFile, download, image_size
from bot.playground.limits import FloodControl
from bot.playground.methods import METHODS, find_method, media_fields
from bot.playground.state import ChatRecord, PendingQuery, TelegramState
from bot.playground.text import command_entities
from bot.playground.validation import formatted_caption, formatted_text
from bot.playground.webhook import WebhookDelivery

__all__ = ["FakeTelegram"]

logger = logging.getLogger(__name__)

# Bot API file size limits in bytes.
MAX_PHOTO_URL_BYTES = 5 * 1024 * 1024
MAX_OTHER_URL_BYTES = 20 * 1024 * 1024
MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

_FILE_ID_INVALID = "wrong file identifier/HTTP URL specified"
_URL_UNFETCHABLE = "failed to get HTTP URL content"


class FakeTelegram:
    """A Bot API server on loopback with helpers that act as Telegram users.

    Point a bot at it with ``base_url=f"{api_url}/bot"`` and
    ``base_file_url=f"{api_url}/file/bot"``. The helpers that enqueue updates must run
    inside the event loop that serves the fake.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "gramlink_demo_bot",
        bot_name: str = "Gramlink Demo",
        enforce_limits: bool = False,
    ) -> None:
        self.token = token
        bot_id_text = token.split(":", 1)[0]
        bot_user = {
            "id": int(bot_id_text) if bot_id_text.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.state = TelegramState(bot_user)
        self.enforce_limits = enforce_limits
        self.url_fetch_fails = False
        self.downloads = 0
        self.uploads = 0
        self.rate_limited = 0
        self.requests: list[RecordedCall] = []
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.callback_queries: dict[str, PendingQuery] = {}
        self.inline_queries: dict[str, PendingQuery] = {}
        self.polling_generation = 0
        self.stopping = False
        self.flood = FloodControl()
        self.webhook = WebhookDelivery(self.state, self._client_session)

        self._faults: defaultdict[str, deque[BotApiError]] = defaultdict(deque)
        self._recorded = asyncio.Event()
        self._query_ids = itertools.count(int(time.time()) * 1000)
        self._media_group_ids = itertools.count(13_000_000_000_000_000)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._base_url = ""
        self.app = self._build_app()

    # Lifecycle

    def _build_app(self) -> web.Application:
        from bot.playground.web import add_playground_routes

        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        add_playground_routes(app, self)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving on host:port; port 0 picks a free port."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running; call stop() first.")
        self.stopping = False
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        # access_log=None because request paths contain the bot token.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()

        bound_port = self._runner.addresses[0][1]
        url_host = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{url_host}:{bound_port}"
        logger.debug("Fake Bot API listening on %s", self._base_url)

    async def stop(self) -> None:
        """Stop webhook delivery, end waiting requests and close the server."""
        self.stopping = True
        self.state.wake_pollers()
        await self.webhook.delete()
        for pending in [*self.callback_queries.values(), *self.inline_queries.values()]:
            if not pending.answer.done():
                pending.answer.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """Root URL to use as TELEGRAM_API_URL, such as http://127.0.0.1:PORT."""
        if not self._base_url:
            raise RuntimeError("FakeTelegram is not running; call start() first.")
        return self._base_url

    @property
    def page_url(self) -> str:
        """URL of the playground web chat."""
        return f"{self.api_url}/"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot's User object."""
        return self.state.bot_user

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("FakeTelegram is not running; call start() first.")
        return self._session

    # Recorded calls

    def calls(self, method: str) -> list[RecordedCall]:
        """Return the recorded calls of one method, oldest first."""
        canonical = find_method(method) or method
        return [call for call in self.requests if call.method == canonical]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 (part of the fake's documented interface)
    ) -> list[RecordedCall]:
        """Wait until a method was called count times in total and return its calls.

        Raises TimeoutError naming the method when the count is not reached in time.
        """
        try:
            async with asyncio.timeout(timeout):
                while len(self.calls(method)) < count:
                    await self._recorded.wait()
        except TimeoutError:
            seen = len(self.calls(method))
            raise TimeoutError(
                f"{method} was called {seen} times within {timeout} s; expected {count}"
            ) from None
        return self.calls(method)

    def _record(self, call: RecordedCall) -> None:
        self.requests.append(call)
        self._recorded.set()
        self._recorded = asyncio.Event()

    # Fault injection

    def fail_next(
        self, method: str, error_code: int, description: str, retry_after: int | None = None
    ) -> None:
        """Make the next call of a method fail with this error; a 429 carries retry_after."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        canonical = find_method(method) or method
        self._faults[canonical].append(BotApiError(error_code, description, parameters))

    def check_flood(self, chat: ChatRecord, message_count: int) -> None:
        """Apply the sending limits when enforce_limits is on."""
        if self.enforce_limits:
            self.flood.check(chat.id, chat.type, message_count)

    def next_media_group_id(self) -> str:
        """Return a new media_group_id."""
        return str(next(self._media_group_ids))

    # HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.match_info["token"].encode(), self.token.encode()):
            return _error_response(BotApiError(401, "Unauthorized"))
        method = find_method(request.match_info["method"])
        if method is None:
            return _error_response(BotApiError(404, "Not Found"))

        raw: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        try:
            raw, uploads = await _read_parameters(request)
            call = ApiCall(method, raw, uploads)
            fault = self._faults[method].popleft() if self._faults[method] else None
            if fault is not None:
                raise fault
            result = await METHODS[method](self, call)
        except BotApiError as error:
            if error.error_code == 429:
                self.rate_limited += 1
            logger.debug("Fake Bot API rejected %s: %s", method, error.description)
            self._record(
                RecordedCall(
                    method,
                    raw,
                    {name: upload.data for name, upload in uploads.items()},
                    error_code=error.error_code,
                    description=error.description,
                )
            )
            return _error_response(error)

        files = {name: upload.data for name, upload in uploads.items()}
        self._record(RecordedCall(method, call.params, files, result=result))
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.match_info["token"].encode(), self.token.encode()):
            return _error_response(BotApiError(401, "Unauthorized"))
        stored = self.state.files.by_path(request.match_info["file_path"])
        if stored is None:
            return _error_response(BotApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type=stored.mime_type)

    # Media

    async def resolve_media(
        self,
        kind: str,
        value: Any,
        uploads: dict[str, Upload],
        field_name: str | None = None,
    ) -> StoredFile:
        """Return the stored file for a media parameter: attach://name, upload, URL or file_id."""
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(_FILE_ID_INVALID)
            return self._store_upload(kind, upload)
        if value is None and field_name is not None and field_name in uploads:
            return self._store_upload(kind, uploads[field_name])
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            return await self._store_url(kind, value)

        stored = self.state.files.get(value)
        if stored is None:
            raise bad_request(_FILE_ID_INVALID)
        if stored.kind != kind and (kind == "photo" or stored.kind == "photo"):
            raise bad_request("type of file mismatch")
        return stored

    def _store_upload(self, kind: str, upload: Upload) -> StoredFile:
        limit = MAX_PHOTO_UPLOAD_BYTES if kind == "photo" else MAX_UPLOAD_BYTES
        if len(upload.data) > limit:
            # NOTE: the wording of the real error for an oversized photo upload is a guess.
            raise bad_request("file is too big")
        stored = self._store(kind, upload.data, upload.content_type, upload.file_name)
        self.uploads += 1
        return stored

    async def _store_url(self, kind: str, url: str) -> StoredFile:
        if self.url_fetch_fails:
            raise bad_request(_URL_UNFETCHABLE)
        limit = MAX_PHOTO_URL_BYTES if kind == "photo" else MAX_OTHER_URL_BYTES
        fetched = await download(self._client_session(), url, limit)
        if fetched is None:
            raise bad_request(_URL_UNFETCHABLE)

        data, mime_type = fetched
        if kind == "photo" and not mime_type.startswith("image/"):
            raise bad_request("wrong type of the web page content")
        if kind == "video" and not mime_type.startswith(("video/", "application/octet-stream")):
            raise bad_request("wrong type of the web page content")
        file_name = url.rsplit("/", 1)[-1].split("?", 1)[0] or None
        stored = self._store(kind, data, mime_type, file_name)
        self.downloads += 1
        return stored

    def _store(self, kind: str, data: bytes, mime_type: str, file_name: str | None) -> StoredFile:
        dimensions = (0, 0)
        if kind == "photo":
            size = image_size(data)
            if size is None:
                # NOTE: only JPEG, PNG and GIF photos are understood; WebP is rejected here.
                raise bad_request("IMAGE_PROCESS_FAILED")
            dimensions = size
            mime_type = mime_type if mime_type.startswith("image/") else "image/jpeg"
        elif kind == "video" and not mime_type.startswith("video/"):
            mime_type = "video/mp4"
        return self.state.files.add(kind, data, mime_type, file_name, dimensions)

    # Helpers that act as Telegram users

    def add_user(
        self, user_id: int, first_name: str | None = None, username: str | None = None
    ) -> dict[str, Any]:
        """Register a user with a name; other helpers create users on first use."""
        return self.state.add_user(user_id, first_name, username)

    def add_group(
        self, chat_id: int, title: str, admins: list[int], chat_type: str = "group"
    ) -> dict[str, Any]:
        """Register a group with the bot in it; the first admin is the creator."""
        return self.state.add_group(chat_id, title, admins, chat_type).to_api()

    def send_message(
        self, user_id: int, text: str, chat_id: int | None = None, chat_type: str = "private"
    ) -> dict[str, Any]:
        """Enqueue a message update from a user, with bot_command entities for /commands."""
        chat = self.state.chat_for_update(user_id, chat_id, chat_type)
        fields: dict[str, Any] = {"text": text}
        entities = command_entities(text)
        if entities:
            fields["entities"] = entities
        message = self.state.add_message(chat, self.state.users[user_id], fields)
        return self.state.enqueue("message", message)

    def press_button(
        self, user_id: int, message_id: int, callback_data: str, chat_id: int | None = None
    ) -> dict[str, Any]:
        """Enqueue a callback_query update for a button of a message in the chat.

        A message missing from the chat's history is sent as an inaccessible message
        (date 0), as Telegram does for old messages.
        """
        chat = self._chat_of(user_id, chat_id)
        message = self.state.find_message(chat, message_id) or {
            "message_id": message_id,
            "chat": chat.to_api(),
            "date": 0,
        }
        query_id = str(next(self._query_ids))
        self.callback_queries[query_id] = PendingQuery(
            user_id, chat.id, callback_data, asyncio.get_running_loop().create_future()
        )
        callback_query = {
            "id": query_id,
            "from": self.state.users[user_id],
            "message": message,
            "chat_instance": str(zlib.crc32(str(chat.id).encode()) * 1000 + 7),
            "data": callback_data,
        }
        return self.state.enqueue("callback_query", callback_query)

    def inline_query(
        self, user_id: int, query: str, offset: str = "", chat_type: str | None = None
    ) -> dict[str, Any]:
        """Enqueue an inline_query update, as when a user types "@bot query"."""
        user = self.state.add_user(user_id)
        query_id = str(next(self._query_ids))
        self.inline_queries[query_id] = PendingQuery(
            user_id, None, query, asyncio.get_running_loop().create_future()
        )
        inline_query: dict[str, Any] = {
            "id": query_id,
            "from": user,
            "query": query,
            "offset": offset,
        }
        if chat_type is not None:
            inline_query["chat_type"] = chat_type
        return self.state.enqueue("inline_query", inline_query)

    def choose_inline_result(self, user_id: int, result_id: str) -> dict[str, Any]:
        """Enqueue a chosen_inline_result update for a result the bot offered to the user."""
        user = self.state.add_user(user_id)
        found = self.find_inline_result(user_id, result_id)
        chosen = {"result_id": result_id, "from": user, "query": found[0] if found else ""}
        return self.state.enqueue("chosen_inline_result", chosen)

    def find_inline_result(
        self, user_id: int, result_id: str
    ) -> tuple[str, dict[str, Any]] | None:
        """Return (query, result) of the newest answered inline query offering result_id."""
        for pending in reversed(list(self.inline_queries.values())):
            if pending.user_id != user_id or not pending.answer.done():
                continue
            if pending.answer.cancelled():
                continue
            for result in pending.answer.result()["results"]:
                if str(result.get("id")) == result_id:
                    return pending.query, result
        return None

    async def post_inline_result(
        self, user_id: int, chat_id: int, result: dict[str, Any]
    ) -> dict[str, Any]:
        """Post the message a chosen inline result makes, from the user via the bot."""
        chat = self._chat_of(user_id, chat_id)
        fields = await self._inline_result_fields(result)
        fields["via_bot"] = self.state.bot_user
        markup = result.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            fields["reply_markup"] = markup
        return self.state.add_message(chat, self.state.users[user_id], fields)

    async def _inline_result_fields(self, result: dict[str, Any]) -> dict[str, Any]:
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            text, entities = formatted_text(
                content["message_text"], content.get("parse_mode"), content.get("entities")
            )
            return {"text": text, "entities": entities} if entities else {"text": text}

        result_type = result.get("type")
        source = result.get(f"{result_type}_file_id") or result.get(f"{result_type}_url")
        if result_type in ("photo", "video") and source:
            stored = await self.resolve_media(str(result_type), source, {})
            caption, caption_entities = formatted_caption(
                result.get("caption"), result.get("parse_mode"), result.get("caption_entities")
            )
            fields = media_fields(stored, {})
            if caption:
                fields["caption"] = caption
            if caption_entities:
                fields["caption_entities"] = caption_entities
            return fields
        return {"text": str(result.get("title") or result_type)}

    def migrate_group(self, old_chat_id: int, new_chat_id: int) -> None:
        """Upgrade a group to a supergroup: sends to the old id fail with migrate_to_chat_id."""
        old = self.state.chats.get(old_chat_id)
        if old is None:
            raise ValueError(f"Unknown group {old_chat_id}; call add_group() first.")
        new = self.state.add_group(new_chat_id, old.title or "", old.admins, "supergroup")
        new.members.update(old.members)
        actor = self.state.users[old.admins[0]] if old.admins else self.state.bot_user

        to_message = self.state.add_message(old, actor, {"migrate_to_chat_id": new_chat_id})
        old.migrated_to = new_chat_id
        from_message = self.state.add_message(new, actor, {"migrate_from_chat_id": old_chat_id})
        self.state.enqueue("message", to_message)
        self.state.enqueue("message", from_message)

    def block_bot(self, chat_id: int) -> None:
        """Make the user block the bot, or the group remove it, and enqueue my_chat_member."""
        self._set_membership(chat_id, blocked=True)

    def unblock_bot(self, chat_id: int) -> None:
        """Undo block_bot for a chat."""
        self._set_membership(chat_id, blocked=False)

    def _set_membership(self, chat_id: int, *, blocked: bool) -> None:
        chat = self._chat_of(chat_id, chat_id) if chat_id > 0 else self.state.chats.get(chat_id)
        if chat is None:
            raise ValueError(f"Unknown chat {chat_id}; call add_group() first.")
        chat.bot_blocked = blocked
        actor_id = chat.id if chat.type == "private" else (chat.admins or [0])[0]
        actor = self.state.users.get(actor_id) or self.state.add_user(actor_id or 1)
        bot_member = {"user": self.state.bot_user}
        kicked = {**bot_member, "status": "kicked", "until_date": 0}
        member = {**bot_member, "status": "member"}
        self.state.enqueue(
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": actor,
                "date": int(time.time()),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            },
        )

    def _chat_of(self, user_id: int, chat_id: int | None) -> ChatRecord:
        self.state.add_user(user_id)
        if chat_id is None:
            return self.state.private_chat(user_id)
        chat = self.state.chats.get(chat_id)
        if chat is None:
            chat_type = "private" if chat_id > 0 else "group"
            chat = self.state.chat_for_update(user_id, chat_id, chat_type)
        chat.members.add(user_id)
        return chat

    def add_demo_data(self) -> None:
        """Create the playground's demo users and demo group."""
        self.add_user(DEMO_USER_ID, "Ada", "ada_demo")
        self.add_user(SECOND_DEMO_USER_ID, "Ben", "ben_demo")
        self.state.private_chat(DEMO_USER_ID)
        self.state.private_chat(SECOND_DEMO_USER_ID)
        group = self.state.add_group(DEMO_GROUP_ID, "Gramlink demo group", [DEMO_USER_ID])
        group.members.add(SECOND_DEMO_USER_ID)


DEMO_USER_ID = 1001
SECOND_DEMO_USER_ID = 1002
DEMO_GROUP_ID = -4001001001


async def _read_parameters(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.method != "POST" or not request.body_exists:
        return raw, uploads

    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON object expected as request body")
        raw.update(body)
        return raw, uploads

    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            data = value.file.read()
            uploads[name] = Upload(data, value.filename, value.content_type)
        else:
            raw[name] = value
    return raw, uploads


def _error_response(error: BotApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.error_code)
