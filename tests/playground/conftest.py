"""Fixtures for the fake Bot API: a running fake, a PTB Bot aimed at it, an image server."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from PIL import Image
from telegram import Bot

from bot.playground import FakeTelegram

TOKEN = "123456:TEST-token"


def jpeg_bytes(width: int = 4, height: int = 3) -> bytes:
    """Return a small JPEG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 60, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


@dataclass
class ImageServer:
    """A loopback server with a JPEG, an HTML page and a forbidden URL."""

    base_url: str
    hits: list[str]

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    try:
        yield telegram
    finally:
        await telegram.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    telegram_bot = Bot(
        TOKEN, base_url=f"{fake.api_url}/bot", base_file_url=f"{fake.api_url}/file/bot"
    )
    async with telegram_bot:
        yield telegram_bot


@pytest.fixture
async def image_server() -> AsyncIterator[ImageServer]:
    hits: list[str] = []
    image = jpeg_bytes(40, 30)

    async def photo(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=image, content_type="image/jpeg")

    async def page(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="<html></html>", content_type="text/html")

    async def expired(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=403, text="URL signature expired")

    app = web.Application()
    app.router.add_get("/photos/{name}", photo)
    app.router.add_get("/page.html", page)
    app.router.add_get("/expired.jpg", expired)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield ImageServer(f"http://127.0.0.1:{port}", hits)
    finally:
        await runner.cleanup()
