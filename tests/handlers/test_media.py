"""`/media` paging and `/latest` through the fake Bot API, with the whole app in sandbox mode."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from app_helpers import button_url, connect_user

from bot.handlers import texts

if TYPE_CHECKING:
    from bot.app import GramlinkApp
    from bot.playground import FakeTelegram
    from bot.playground.calls import RecordedCall

USER_ID = 5001
OTHER_USER_ID = 5002
GROUP_ID = -100500600
MAX_CALLBACK_DATA_BYTES = 64
WAIT_SECONDS = 10.0


@pytest.fixture
async def app(running_app: GramlinkApp, fake_telegram: FakeTelegram) -> GramlinkApp:
    await connect_user(running_app, fake_telegram, USER_ID)
    return running_app


def keyboard_data(call: RecordedCall) -> dict[str, str]:
    """Map button labels to callback data for a recorded message with a keyboard."""
    markup = call.params.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return {
        button["text"]: button["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    }


async def next_control(fake: FakeTelegram, count: int) -> RecordedCall:
    """Wait for the `count`-th control message (a sendMessage with paging buttons or page text)."""

    async def find() -> RecordedCall:
        while True:
            controls = [
                call
                for call in fake.calls("sendMessage")
                if "page" in str(call.params.get("text", "")) and call.ok
            ]
            if len(controls) >= count:
                return controls[count - 1]
            await fake.wait_for("sendMessage", count=len(fake.calls("sendMessage")) + 1)

    return await asyncio.wait_for(find(), WAIT_SECONDS)


async def press(fake: FakeTelegram, user_id: int, message_id: int, data: str) -> dict[str, Any]:
    """Press a button and return the bot's answerCallbackQuery parameters."""
    update = fake.press_button(user_id, message_id, data)
    pending = fake.callback_queries[update["callback_query"]["id"]]
    return await asyncio.wait_for(asyncio.shield(pending.answer), WAIT_SECONDS)


def media_ids_sent(calls: list[RecordedCall]) -> list[str]:
    """Return the captions' post links of media sent in the calls, as a rough page identity."""
    captions: list[str] = []
    for call in calls:
        if not call.ok:
            continue
        if call.method == "sendMediaGroup":
            media = call.params["media"]
            items = json.loads(media) if isinstance(media, str) else media
            captions.extend(str(item.get("caption", "")) for item in items if item.get("caption"))
        elif call.method in ("sendPhoto", "sendVideo") and call.params.get("caption"):
            captions.append(str(call.params["caption"]))
    return captions


async def test_media_not_connected(running_app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    fake_telegram.send_message(OTHER_USER_ID, "/media")
    [reply] = await fake_telegram.wait_for("sendMessage")

    assert reply.params["text"] == texts.NOT_CONNECTED


async def test_media_sends_albums_and_control(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    mark = len(fake_telegram.requests)
    fake_telegram.send_message(USER_ID, "/media")
    control = await next_control(fake_telegram, 1)
    buttons = keyboard_data(control)

    albums = [call for call in fake_telegram.requests[mark:] if call.method == "sendMediaGroup"]
    assert albums
    assert all(call.ok for call in albums)
    assert set(buttons) == {texts.MEDIA_OLDER_BUTTON}
    assert buttons[texts.MEDIA_OLDER_BUTTON].startswith("m:")
    assert len(buttons[texts.MEDIA_OLDER_BUTTON].encode()) <= MAX_CALLBACK_DATA_BYTES


async def test_media_pages_to_end_and_back(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    fake_telegram.send_message(USER_ID, "/media")
    control = await next_control(fake_telegram, 1)
    first_page = media_ids_sent(fake_telegram.requests)
    pages = 1

    while texts.MEDIA_OLDER_BUTTON in keyboard_data(control):
        assert pages < 20, "the Older button never ends"
        older = keyboard_data(control)[texts.MEDIA_OLDER_BUTTON]
        answer = await press(fake_telegram, USER_ID, control.result["message_id"], older)
        assert answer["text"] == ""
        pages += 1
        control = await next_control(fake_telegram, pages)

    assert pages > 2
    assert set(keyboard_data(control)) == {texts.MEDIA_NEWER_BUTTON}
    removed = await fake_telegram.wait_for("editMessageReplyMarkup", count=pages - 1)
    assert all(call.ok for call in removed)

    for _ in range(pages - 1):
        newer = keyboard_data(control)[texts.MEDIA_NEWER_BUTTON]
        mark = len(fake_telegram.requests)
        await press(fake_telegram, USER_ID, control.result["message_id"], newer)
        pages += 1
        control = await next_control(fake_telegram, pages)

    assert set(keyboard_data(control)) == {texts.MEDIA_OLDER_BUTTON}
    assert media_ids_sent(fake_telegram.requests[mark:]) == first_page


async def test_media_stale_button_answers_politely(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.send_message(USER_ID, "/media")
    control = await next_control(fake_telegram, 1)

    answer = await press(fake_telegram, USER_ID, control.result["message_id"], "m:unknown00:0")

    assert answer["text"] == texts.MEDIA_STALE
    assert answer["show_alert"] is True


async def test_media_foreign_button_answers_politely(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.send_message(USER_ID, "/media")
    control = await next_control(fake_telegram, 1)
    older = keyboard_data(control)[texts.MEDIA_OLDER_BUTTON]
    sent_before = len(fake_telegram.calls("sendMediaGroup"))

    answer = await press(fake_telegram, OTHER_USER_ID, control.result["message_id"], older)

    assert answer["text"] == texts.NOT_YOUR_BUTTON
    assert len(fake_telegram.calls("sendMediaGroup")) == sent_before


async def test_media_needs_reconnect_offers_button(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    account = await app.services.storage.get_account_for_user(USER_ID)
    assert account is not None
    await app.services.storage.mark_needs_reconnect(
        account.id, error="code 190", now=datetime.now(UTC)
    )
    before = len(fake_telegram.calls("sendMessage"))

    fake_telegram.send_message(USER_ID, "/media")
    calls = await fake_telegram.wait_for("sendMessage", count=before + 1)

    assert calls[before].params["text"] == texts.NEEDS_RECONNECT
    assert "/sandbox/oauth/authorize?" in button_url(calls[before].params)


async def test_latest_sends_one_photo(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    fake_telegram.send_message(USER_ID, "/latest")
    [photo] = await fake_telegram.wait_for("sendPhoto")

    assert photo.ok
    assert "Open on Instagram" in photo.params["caption"]


async def test_latest_three_photos_as_album(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    fake_telegram.send_message(USER_ID, "/latest 3")
    [album] = await fake_telegram.wait_for("sendMediaGroup")
    media = album.params["media"]
    items = json.loads(media) if isinstance(media, str) else media

    assert album.ok
    assert len(items) == 3
    assert {item["type"] for item in items} == {"photo"}


async def test_latest_reuses_file_ids(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    fake_telegram.send_message(USER_ID, "/latest 2")
    await fake_telegram.wait_for("sendMediaGroup")
    downloads = fake_telegram.downloads

    fake_telegram.send_message(USER_ID, "/latest 2")
    [_, second] = await fake_telegram.wait_for("sendMediaGroup", count=2)

    assert second.ok
    assert fake_telegram.downloads == downloads


@pytest.mark.parametrize("argument", ["0", "11", "abc", "2 3", "-1"])
async def test_latest_invalid_count_shows_usage(
    app: GramlinkApp, fake_telegram: FakeTelegram, argument: str
) -> None:
    before = len(fake_telegram.calls("sendMessage"))
    fake_telegram.send_message(USER_ID, f"/latest {argument}")
    calls = await fake_telegram.wait_for("sendMessage", count=before + 1)

    assert calls[before].params["text"] == texts.LATEST_USAGE


@pytest.mark.parametrize("command", ["/media", "/latest 5"])
async def test_photo_commands_in_group_point_to_private_chat(
    app: GramlinkApp, fake_telegram: FakeTelegram, command: str
) -> None:
    fake_telegram.add_group(GROUP_ID, "Friends", admins=[USER_ID])
    before = len(fake_telegram.calls("sendMessage"))

    fake_telegram.send_message(USER_ID, command, chat_id=GROUP_ID, chat_type="group")
    calls = await fake_telegram.wait_for("sendMessage", count=before + 1)

    assert calls[before].params["text"] == texts.PHOTOS_IN_PRIVATE
    assert int(calls[before].params["chat_id"]) == GROUP_ID
    assert button_url(calls[before].params) == "https://t.me/gramlink_demo_bot"
    assert fake_telegram.calls("sendMediaGroup") == []
    assert fake_telegram.calls("sendPhoto") == []


async def test_latest_carousel_caption_once(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    # The newest demo post is a photo, the one before it a carousel of ten.
    fake_telegram.send_message(USER_ID, "/latest 4")
    [album] = await fake_telegram.wait_for("sendMediaGroup")
    media = album.params["media"]
    items = json.loads(media) if isinstance(media, str) else media

    captions = [item.get("caption") for item in items]
    assert len(items) == 4
    assert captions[0]
    assert "Ten from the trip" in captions[1]
    assert captions[2:] == [None, None]
