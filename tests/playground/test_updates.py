"""Updates from the fake: long polling with a PTB Application, webhooks, queries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    Bot,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import BadRequest, Conflict
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from bot.playground import FakeTelegram
from tests.playground.conftest import TOKEN

USER_ID = 1001


@pytest.fixture
async def application(
    fake: FakeTelegram,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Welcome to Gramlink")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{fake.api_url}/bot")
        .base_file_url(f"{fake.api_url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=5)
    await app.start()
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_long_polling_application_replies(
    fake: FakeTelegram, application: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    update = fake.send_message(USER_ID, "/start")
    calls = await fake.wait_for("sendMessage")

    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert calls[0].params["text"] == "Welcome to Gramlink"
    assert int(calls[0].params["chat_id"]) == USER_ID
    assert fake.calls("deleteWebhook")


async def test_get_updates_honours_offset_and_limit(fake: FakeTelegram, bot: Bot) -> None:
    for number in range(3):
        fake.send_message(USER_ID, f"message {number}")

    first = await bot.get_updates(limit=2)
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    after_confirming = await bot.get_updates(offset=rest[-1].update_id + 1)

    assert [update.message.text for update in first if update.message] == [
        "message 0",
        "message 1",
    ]
    assert [update.message.text for update in rest if update.message] == ["message 2"]
    assert after_confirming == ()


async def test_get_updates_returns_when_update_queued(fake: FakeTelegram, bot: Bot) -> None:
    # A starting getUpdates request sets this event, so the update below arrives mid-poll.
    poll_started = fake.state.updates_changed
    polling = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.wait_for(poll_started.wait(), 5)

    fake.send_message(USER_ID, "hello")
    updates = await asyncio.wait_for(polling, 5)

    assert updates[0].message is not None
    assert updates[0].message.text == "hello"


async def test_allowed_updates_filters_new_updates(fake: FakeTelegram, bot: Bot) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])

    fake.send_message(USER_ID, "ignored")
    sent = await bot.send_message(USER_ID, "menu")
    fake.press_button(USER_ID, sent.message_id, "page:2")
    updates = await bot.get_updates()

    assert len(updates) == 1
    assert updates[0].callback_query is not None


async def test_callback_query_shape_and_answer(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER_ID, "menu")
    fake.press_button(USER_ID, sent.message_id, "page:2")

    updates = await bot.get_updates()
    query = updates[0].callback_query
    assert query is not None
    await query.answer("Loading")
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer("again")

    assert query.data == "page:2"
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert query.chat_instance
    assert fake.calls("answerCallbackQuery")[0].params["text"] == "Loading"


async def test_inline_query_results_validated_and_chosen(fake: FakeTelegram, bot: Bot) -> None:
    fake.inline_query(USER_ID, "cats")
    updates = await bot.get_updates()
    inline_query = updates[0].inline_query
    assert inline_query is not None
    too_long_id = InlineQueryResultArticle("x" * 65, "Title", InputTextMessageContent("text"))
    result = InlineQueryResultArticle("post-1", "A cat", InputTextMessageContent("Cat photo"))

    with pytest.raises(BadRequest, match="Result_id_invalid"):
        await inline_query.answer([too_long_id])
    await inline_query.answer([result])
    fake.choose_inline_result(USER_ID, "post-1")
    chosen = (await bot.get_updates(offset=updates[-1].update_id + 1))[0].chosen_inline_result

    assert inline_query.query == "cats"
    assert inline_query.offset == ""
    assert chosen is not None
    assert chosen.result_id == "post-1"
    assert chosen.query == "cats"
    assert fake.calls("answerInlineQuery")[-1].params["results"][0]["id"] == "post-1"


async def test_more_than_fifty_inline_results_rejected(fake: FakeTelegram, bot: Bot) -> None:
    update = fake.inline_query(USER_ID, "")
    results = [
        InlineQueryResultArticle(str(number), "Title", InputTextMessageContent("text"))
        for number in range(51)
    ]

    with pytest.raises(BadRequest, match="Results_too_much"):
        await bot.answer_inline_query(update["inline_query"]["id"], results)


async def test_webhook_delivers_update_with_secret(fake: FakeTelegram, bot: Bot) -> None:
    received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        await received.put((secret, await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram/webhook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
    try:
        await bot.set_webhook(url, secret_token="webhook-secret_1")
        fake.send_message(USER_ID, "/status")
        secret, body = await asyncio.wait_for(received.get(), 5)
        info = await bot.get_webhook_info()
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
    finally:
        await bot.delete_webhook()
        await runner.cleanup()

    assert secret == "webhook-secret_1"
    assert body["message"]["text"] == "/status"
    assert info.url == url


async def test_webhook_only_to_loopback(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Bad webhook"):
        await bot.set_webhook("https://bot.example.invalid/telegram/webhook")
