"""A fake Telegram Bot API server with a web chat page, for the demo and end-to-end tests."""

from __future__ import annotations

from bot.playground.calls import RecordedCall
from bot.playground.errors import BotApiError
from bot.playground.server import (
    DEMO_GROUP_ID,
    DEMO_USER_ID,
    SECOND_DEMO_USER_ID,
    FakeTelegram,
)

__all__ = [
    "DEMO_GROUP_ID",
    "DEMO_USER_ID",
    "SECOND_DEMO_USER_ID",
    "BotApiError",
    "FakeTelegram",
    "RecordedCall",
    "run_playground",
]


async def run_playground(
    token: str = "123456:TEST",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    bot_username: str = "gramlink_demo_bot",
    enforce_limits: bool = True,
) -> FakeTelegram:
    """Start a FakeTelegram with demo users and a demo group, and return it running.

    Its api_url is the TELEGRAM_API_URL for the bot and its page_url is the web chat.
    The caller stops it with ``await fake.stop()``.
    """
    fake = FakeTelegram(token, bot_username=bot_username, enforce_limits=enforce_limits)
    fake.add_demo_data()
    await fake.start(host, port)
    return fake
