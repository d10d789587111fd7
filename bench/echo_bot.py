"""The baseline bot for the throughput benchmark: a minimal python-telegram-bot echo bot.

It replies to every text message with the same text and does nothing else: no storage,
no services. Under webhook it uses a minimal aiohttp route that decodes the update and
puts it on the application's update queue.
"""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

__all__ = ["EchoWebhookServer", "build_echo_application"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def build_echo_application(token: str, api_url: str) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build an echo Application that talks to the Bot API at `api_url` (a loopback fake)."""
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, _echo))
    return application


class EchoWebhookServer:
    """An aiohttp server with `POST /telegram/webhook` feeding an echo Application."""

    def __init__(
        self, application: Application[Any, Any, Any, Any, Any, Any], secret: str
    ) -> None:
        self.application = application
        self._secret = secret
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        """Serve on a free loopback port and set `url` to the webhook URL."""
        app = web.Application()
        app.router.add_post("/telegram/webhook", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/telegram/webhook"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        received = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(received.encode(), self._secret.encode()):
            raise web.HTTPForbidden
        update = Update.de_json(await request.json(), self.application.bot)
        await self.application.update_queue.put(update)
        return web.Response()
