"""The playground page and its JSON endpoints, with a PTB Bot on the other side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)

from bot.playground import DEMO_GROUP_ID, DEMO_USER_ID, FakeTelegram, run_playground
from tests.playground.conftest import TOKEN, jpeg_bytes


@pytest.fixture
async def playground() -> AsyncIterator[FakeTelegram]:
    fake = await run_playground(TOKEN, enforce_limits=False)
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def demo_bot(playground: FakeTelegram) -> AsyncIterator[Bot]:
    telegram_bot = Bot(TOKEN, base_url=f"{playground.api_url}/bot")
    async with telegram_bot:
        yield telegram_bot


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(http: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> Any:
    async with http.post(url, json=payload) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_page_and_assets_served(
    playground: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    async with http.get(playground.page_url) as response:
        page = await response.text()
        policy = response.headers["Content-Security-Policy"]
    async with http.get(f"{playground.api_url}/playground/static/app.js") as script:
        script_text = await script.text()
    async with http.get(f"{playground.api_url}/playground/static/server.py") as other:
        other_status = other.status

    assert "<title>Gramlink playground</title>" in page
    assert TOKEN not in page
    assert "script-src 'self'" in policy
    assert "textContent" in script_text
    assert "innerHTML" not in script_text
    assert other_status == 404


async def test_state_lists_demo_users_and_chats(
    playground: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{playground.api_url}/playground/api/state") as response:
        state = await response.json()

    assert state["bot"]["username"] == "gramlink_demo_bot"
    assert [user["first_name"] for user in state["users"]] == ["Ada", "Ben"]
    assert DEMO_GROUP_ID in [chat["id"] for chat in state["chats"]]
    assert DEMO_USER_ID in [chat["id"] for chat in state["chats"]]


async def test_message_round_trip_to_bot(
    playground: FakeTelegram, demo_bot: Bot, http: aiohttp.ClientSession
) -> None:
    api = f"{playground.api_url}/playground/api"
    posted = await _post(
        http,
        f"{api}/messages",
        {"user_id": DEMO_USER_ID, "chat_id": DEMO_USER_ID, "text": "/start"},
    )

    updates = await demo_bot.get_updates()
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Next", callback_data="page:2")]])
    reply = await demo_bot.send_message(
        DEMO_USER_ID,
        "<b>Hi</b> &lt;script&gt;",
        parse_mode="HTML",
        reply_markup=keyboard,
    )
    async with http.get(f"{api}/chats/{DEMO_USER_ID}/messages?since=0") as response:
        history = await response.json()

    assert updates[0].message is not None
    assert updates[0].message.text == "/start"
    assert posted["message"]["message_id"] == updates[0].message.message_id
    messages = [entry["message"] for entry in history["messages"]]
    assert [message["message_id"] for message in messages] == [1, reply.message_id]
    assert messages[1]["text"] == "Hi <script>"
    assert messages[1]["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert messages[1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "page:2"
    assert history["revision"] >= 2


async def test_history_long_poll_returns_new_message(
    playground: FakeTelegram, demo_bot: Bot, http: aiohttp.ClientSession
) -> None:
    url = f"{playground.api_url}/playground/api/chats/{DEMO_USER_ID}/messages?since=0&wait=10"
    waiting = asyncio.create_task(http.get(url))
    await asyncio.sleep(0.05)

    await demo_bot.send_message(DEMO_USER_ID, "news")
    async with await asyncio.wait_for(waiting, 5) as response:
        history = await response.json()

    assert [entry["message"]["text"] for entry in history["messages"]] == ["news"]


async def test_button_press_returns_bot_answer(
    playground: FakeTelegram, demo_bot: Bot, http: aiohttp.ClientSession
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Older", callback_data="page:2")]])
    sent = await demo_bot.send_message(DEMO_USER_ID, "Page 1", reply_markup=keyboard)

    async def answer_when_pressed() -> None:
        updates = await demo_bot.get_updates(timeout=5)
        assert updates[0].callback_query is not None
        await updates[0].callback_query.answer("Showing older posts")

    bot_side = asyncio.create_task(answer_when_pressed())
    body = await _post(
        http,
        f"{playground.api_url}/playground/api/callback",
        {
            "user_id": DEMO_USER_ID,
            "chat_id": DEMO_USER_ID,
            "message_id": sent.message_id,
            "data": "page:2",
        },
    )
    await bot_side

    assert body["answer"]["text"] == "Showing older posts"
    assert body["answer"]["show_alert"] is False


async def test_inline_query_and_choice_post_message(
    playground: FakeTelegram, demo_bot: Bot, http: aiohttp.ClientSession
) -> None:
    api = f"{playground.api_url}/playground/api"

    async def answer_inline() -> None:
        updates = await demo_bot.get_updates(timeout=5)
        assert updates[0].inline_query is not None
        content = InputTextMessageContent("<i>Sunset</i>", parse_mode="HTML")
        await updates[0].inline_query.answer(
            [InlineQueryResultArticle("post-9", "Sunset", content)]
        )

    bot_side = asyncio.create_task(answer_inline())
    results = await _post(
        http, f"{api}/inline", {"user_id": DEMO_USER_ID, "chat_id": DEMO_GROUP_ID, "query": "sun"}
    )
    await bot_side
    chosen = await _post(
        http,
        f"{api}/inline/choose",
        {"user_id": DEMO_USER_ID, "chat_id": DEMO_GROUP_ID, "result_id": "post-9"},
    )
    updates = await demo_bot.get_updates()

    assert results["answer"]["results"][0]["id"] == "post-9"
    assert chosen["message"]["text"] == "Sunset"
    assert chosen["message"]["via_bot"]["username"] == "gramlink_demo_bot"
    assert chosen["message"]["chat"]["id"] == DEMO_GROUP_ID
    assert updates[-1].chosen_inline_result is not None
    assert updates[-1].chosen_inline_result.query == "sun"


async def test_files_served_by_file_id(
    playground: FakeTelegram, demo_bot: Bot, http: aiohttp.ClientSession
) -> None:
    image = jpeg_bytes()
    message = await demo_bot.send_photo(DEMO_USER_ID, image)

    url = f"{playground.api_url}/playground/files/{message.photo[-1].file_id}"
    async with http.get(url) as response:
        body = await response.read()
    async with http.get(f"{playground.api_url}/playground/files/missing") as missing:
        missing_status = missing.status

    assert body == image
    assert response.content_type == "image/jpeg"
    assert missing_status == 404


async def test_bad_input_rejected(playground: FakeTelegram, http: aiohttp.ClientSession) -> None:
    url = f"{playground.api_url}/playground/api/messages"
    async with http.post(url, json={"user_id": "1001", "chat_id": 1001, "text": "x"}) as response:
        body = await response.json()

    assert response.status == 400
    assert body["error"] == "user_id must be an integer"
