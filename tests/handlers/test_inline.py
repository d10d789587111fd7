"""Inline mode through the fake Bot API, with the whole app in sandbox mode."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from app_helpers import connect_user

from bot.handlers import texts
from bot.playground import DEMO_GROUP_ID

if TYPE_CHECKING:
    from bot.app import GramlinkApp
    from bot.playground import FakeTelegram

USER_ID = 6001
OTHER_USER_ID = 6002
WAIT_SECONDS = 10.0


@pytest.fixture
async def app(running_app: GramlinkApp, fake_telegram: FakeTelegram) -> GramlinkApp:
    await connect_user(running_app, fake_telegram, USER_ID)
    return running_app


async def inline_answer(fake: FakeTelegram, user_id: int, offset: str = "") -> dict[str, Any]:
    """Send an inline query and return the parameters of the bot's answer."""
    update = fake.inline_query(user_id, "", offset=offset)
    pending = fake.inline_queries[update["inline_query"]["id"]]
    answer: dict[str, Any] = await asyncio.wait_for(asyncio.shield(pending.answer), WAIT_SECONDS)
    return answer


async def test_inline_not_connected_offers_button(
    running_app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    answer = await inline_answer(fake_telegram, OTHER_USER_ID)

    assert answer["results"] == []
    assert answer["button"]["text"] == texts.INLINE_CONNECT_BUTTON
    assert answer["button"]["start_parameter"] == "connect"


async def test_inline_lists_photos_with_paging(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    first = await inline_answer(fake_telegram, USER_ID)
    [call] = fake_telegram.calls("answerInlineQuery")
    second = await inline_answer(fake_telegram, USER_ID, first["next_offset"])
    first_ids = {result["id"] for result in first["results"]}

    assert first["results"]
    assert len(first["results"]) <= 50
    assert {result["type"] for result in first["results"]} == {"photo"}
    assert all(result.get("thumbnail_url") for result in first["results"])
    assert all("Open on Instagram" in result["caption"] for result in first["results"])
    assert call.params["is_personal"] in (True, "true")
    assert int(call.params["cache_time"]) == 30
    assert 0 < len(first["next_offset"].encode()) <= 64
    assert second["results"]
    assert first_ids.isdisjoint(result["id"] for result in second["results"])


async def test_inline_foreign_offset_returns_nothing(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    first = await inline_answer(fake_telegram, USER_ID)
    await connect_user(app, fake_telegram, OTHER_USER_ID)

    answer = await inline_answer(fake_telegram, OTHER_USER_ID, first["next_offset"])

    assert answer["results"] == []


async def test_inline_uses_cached_file_id(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    fake_telegram.send_message(USER_ID, "/latest")
    await fake_telegram.wait_for("sendPhoto")

    answer = await inline_answer(fake_telegram, USER_ID)
    first = answer["results"][0]

    assert first["type"] == "photo"
    assert first.get("photo_file_id")
    assert "photo_url" not in first


async def test_inline_chosen_result_is_posted(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    answer = await inline_answer(fake_telegram, USER_ID)
    result = answer["results"][0]

    posted = await fake_telegram.post_inline_result(USER_ID, DEMO_GROUP_ID, result)
    fake_telegram.choose_inline_result(USER_ID, result["id"])
    await asyncio.sleep(0)

    assert "photo" in posted
    assert "Open on Instagram" in posted["caption"]
    assert texts.ERROR_GENERIC not in [
        call.params.get("text") for call in fake_telegram.calls("sendMessage")
    ]
