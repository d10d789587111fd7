"""Group subscriptions through the fake Bot API, with the whole app in sandbox mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from app_helpers import connect_user

from bot.handlers import texts
from bot.services.subscriptions import confirm_callback_data

if TYPE_CHECKING:
    from bot.app import GramlinkApp
    from bot.playground import FakeTelegram
    from bot.playground.calls import RecordedCall

OWNER = 7001
ADMIN = 7002
GROUP_ID = -100700
SUPERGROUP_ID = -1001700
WAIT_SECONDS = 10.0


@pytest.fixture
async def app(running_app: GramlinkApp, fake_telegram: FakeTelegram) -> GramlinkApp:
    await connect_user(running_app, fake_telegram, OWNER)
    fake_telegram.add_group(GROUP_ID, "Hikers", admins=[ADMIN])
    return running_app


async def say(
    fake: FakeTelegram, user_id: int, text: str, chat_id: int = GROUP_ID
) -> RecordedCall:
    """Send a message in the group and return the bot's next sendMessage."""
    before = len(fake.calls("sendMessage"))
    chat_type = "private" if chat_id > 0 else "group"
    fake.send_message(user_id, text, chat_id=chat_id, chat_type=chat_type)
    calls = await fake.wait_for("sendMessage", count=before + 1)
    return calls[before]


async def press(fake: FakeTelegram, user_id: int, message_id: int, data: str) -> dict[str, Any]:
    update = fake.press_button(user_id, message_id, data, chat_id=GROUP_ID)
    pending = fake.callback_queries[update["callback_query"]["id"]]
    answer: dict[str, Any] = await asyncio.wait_for(asyncio.shield(pending.answer), WAIT_SECONDS)
    return answer


async def eventually(check: Callable[[], Awaitable[bool]], description: str) -> None:
    """Wait until `check` holds, for handlers that change state without replying."""
    for _ in range(int(WAIT_SECONDS / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {description}")


def confirm_data(call: RecordedCall) -> str:
    markup = call.params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    data: str = markup["inline_keyboard"][0][0]["callback_data"]
    return data


async def test_subscribe_in_private_chat_explains(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    reply = await say(fake_telegram, OWNER, "/subscribe", chat_id=OWNER)

    assert reply.params["text"] == texts.SUBSCRIBE_IN_GROUP_ONLY


async def test_subscribe_without_account(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    reply = await say(fake_telegram, ADMIN, "/subscribe")

    assert reply.params["text"] == texts.NOT_CONNECTED


async def test_subscribe_needs_admin_confirmation(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    request = await say(fake_telegram, OWNER, "/subscribe")
    data = confirm_data(request)
    message_id = request.result["message_id"]

    by_owner = await press(fake_telegram, OWNER, message_id, data)
    by_admin = await press(fake_telegram, ADMIN, message_id, data)
    [edit] = await fake_telegram.wait_for("editMessageText")
    subscriptions = await app.services.storage.subscriptions_for_chat(GROUP_ID)

    assert "admin needs to confirm" in request.params["text"]
    assert len(data.encode()) <= 64
    assert by_owner["text"] == texts.SUBSCRIBE_ADMINS_ONLY
    assert by_admin["text"] == ""
    assert "new posts of <b>@sandbox.demo</b> will appear here" in edit.params["text"]
    assert len(subscriptions) == 1


async def test_confirm_forged_on_other_message(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    unrelated = await say(fake_telegram, ADMIN, "/unsubscribe")
    account = await app.services.storage.get_account_for_user(OWNER)
    assert account is not None
    forged = confirm_callback_data(account.id, OWNER)

    answer = await press(fake_telegram, ADMIN, unrelated.result["message_id"], forged)
    subscriptions = await app.services.storage.subscriptions_for_chat(GROUP_ID)

    assert answer["text"] == texts.BUTTON_NO_LONGER_WORKS
    assert fake_telegram.calls("editMessageText") == []
    assert subscriptions == []


async def test_confirm_pressed_twice_changes_nothing(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    request = await say(fake_telegram, OWNER, "/subscribe")
    data = confirm_data(request)
    message_id = request.result["message_id"]

    first = await press(fake_telegram, ADMIN, message_id, data)
    await fake_telegram.wait_for("editMessageText")
    second = await press(fake_telegram, ADMIN, message_id, data)
    subscriptions = await app.services.storage.subscriptions_for_chat(GROUP_ID)

    assert first["text"] == ""
    assert second["text"] == texts.BUTTON_NO_LONGER_WORKS
    assert len(fake_telegram.calls("editMessageText")) == 1
    assert len(subscriptions) == 1


async def test_subscribe_by_admin_owner_is_direct(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.add_group(GROUP_ID - 1, "Owners", admins=[OWNER])

    reply = await say(fake_telegram, OWNER, "/subscribe", chat_id=GROUP_ID - 1)

    assert reply.params["text"] == texts.subscribed_text("sandbox.demo")


async def test_unsubscribe_by_owner_and_stranger(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    request = await say(fake_telegram, OWNER, "/subscribe")
    await press(fake_telegram, ADMIN, request.result["message_id"], confirm_data(request))

    stranger = await say(fake_telegram, 7999, "/unsubscribe")
    owner = await say(fake_telegram, OWNER, "/unsubscribe")
    again = await say(fake_telegram, OWNER, "/unsubscribe")

    assert stranger.params["text"] == texts.UNSUBSCRIBE_NOT_ALLOWED
    assert owner.params["text"] == texts.unsubscribed_text(("sandbox.demo",))
    assert again.params["text"] == texts.UNSUBSCRIBE_NOTHING


async def test_group_migration_moves_subscription(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    request = await say(fake_telegram, OWNER, "/subscribe")
    await press(fake_telegram, ADMIN, request.result["message_id"], confirm_data(request))
    storage = app.services.storage

    fake_telegram.migrate_group(GROUP_ID, SUPERGROUP_ID)

    async def moved() -> bool:
        return len(await storage.subscriptions_for_chat(SUPERGROUP_ID)) == 1

    await eventually(moved, "the subscription in the supergroup")
    assert await storage.subscriptions_for_chat(GROUP_ID) == []


async def test_removed_bot_deactivates_group(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    request = await say(fake_telegram, OWNER, "/subscribe")
    await press(fake_telegram, ADMIN, request.result["message_id"], confirm_data(request))
    storage = app.services.storage

    fake_telegram.block_bot(GROUP_ID)

    async def deactivated() -> bool:
        return await storage.subscriptions_for_chat(GROUP_ID) == []

    await eventually(deactivated, "the group's subscriptions to stop")


async def test_poll_posts_new_sandbox_post_once(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    request = await say(fake_telegram, OWNER, "/subscribe")
    await press(fake_telegram, ADMIN, request.result["message_id"], confirm_data(request))
    first = await app.services.subscriptions.poll()
    async with httpx.AsyncClient() as client:
        created = await client.post(
            f"{app.settings.public_url_base}/sandbox/control/posts",
            json={"account": "sandbox.demo", "media_type": "IMAGE", "caption": "Fresh snow"},
        )
    assert created.status_code == 201

    second = await app.services.subscriptions.poll()
    third = await app.services.subscriptions.poll()
    photos = [
        call
        for call in fake_telegram.calls("sendPhoto")
        if call.ok and int(call.params["chat_id"]) == GROUP_ID
    ]

    assert first.delivered == 0
    assert second.delivered == 1
    assert third.delivered == 0
    assert len(photos) == 1
    assert "Fresh snow" in photos[0].params["caption"]
