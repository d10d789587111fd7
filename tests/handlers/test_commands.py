"""Account commands through the fake Bot API, with the whole app in sandbox mode."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from app_helpers import button_url, connect_user
from telegram.error import BadRequest

from bot.handlers import texts
from bot.handlers.commands import handle_error

if TYPE_CHECKING:
    from bot.app import GramlinkApp
    from bot.playground import FakeTelegram
    from bot.playground.calls import RecordedCall

USER_ID = 4001
OTHER_USER_ID = 4002
GROUP_ID = -100200300
EMPTY_ACCOUNT_ID = "17841400000000003"
WAIT_SECONDS = 10.0


@pytest.fixture
def app(running_app: GramlinkApp) -> GramlinkApp:
    return running_app


async def reply_to(
    fake_telegram: FakeTelegram, user_id: int, text: str, **kwargs: object
) -> RecordedCall:
    """Send a message as the user and return the bot's next sendMessage."""
    before = len(fake_telegram.calls("sendMessage"))
    fake_telegram.send_message(user_id, text, **kwargs)  # type: ignore[arg-type]
    calls = await fake_telegram.wait_for("sendMessage", count=before + 1)
    return calls[before]


def callback_data(call: RecordedCall) -> list[str]:
    keyboard = call.params["reply_markup"]["inline_keyboard"]
    return [button["callback_data"] for row in keyboard for button in row]


async def press(
    fake_telegram: FakeTelegram,
    user_id: int,
    message_id: int,
    data: str,
    chat_id: int | None = None,
) -> dict[str, Any]:
    """Press a button and return the parameters of the bot's answerCallbackQuery."""
    update = fake_telegram.press_button(user_id, message_id, data, chat_id=chat_id)
    pending = fake_telegram.callback_queries[update["callback_query"]["id"]]
    return await asyncio.wait_for(asyncio.shield(pending.answer), WAIT_SECONDS)


async def account_id_of(app: GramlinkApp, user_id: int) -> int:
    account = await app.services.storage.get_account_for_user(user_id)
    assert account is not None
    return account.id


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_start_greets_user(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "/start")

    assert "I bring your Instagram photos into Telegram" in reply.params["text"]
    assert "/connect" in reply.params["text"]
    assert reply.params["parse_mode"] == "HTML"


async def test_help_lists_every_command(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "/help")

    for command, _ in texts.BOT_COMMANDS:
        assert f"/{command} " in reply.params["text"]


async def test_connect_sends_url_button(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "/connect")

    url = button_url(reply.params)
    assert url.startswith(f"{app.settings.public_url_base}/sandbox/oauth/authorize?")
    assert "state=" in url


async def test_connect_in_group_points_to_private_chat(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.add_group(GROUP_ID, "Friends", admins=[USER_ID])

    reply = await reply_to(fake_telegram, USER_ID, "/connect", chat_id=GROUP_ID, chat_type="group")

    assert reply.params["text"] == texts.CONNECT_IN_PRIVATE
    assert button_url(reply.params) == "https://t.me/gramlink_demo_bot?start=connect"


async def test_start_connect_payload_sends_link(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "/start connect")

    assert reply.params["text"] == texts.CONNECT_PROMPT
    assert "/sandbox/oauth/authorize?" in button_url(reply.params)


async def test_status_not_connected(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "/status")

    assert reply.params["text"] == texts.NOT_CONNECTED


async def test_status_shows_account(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    account = await app.services.storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.token_expires_at is not None

    reply = await reply_to(fake_telegram, USER_ID, "/status")

    assert "Connected as <b>@sandbox.demo</b> (business account)" in reply.params["text"]
    assert f"{account.token_expires_at:%Y-%m-%d}" in reply.params["text"]


async def test_status_offers_reconnect(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    account = await app.services.storage.get_account_for_user(USER_ID)
    assert account is not None
    await app.services.storage.mark_needs_reconnect(
        account.id, error="code 190", now=datetime.now(UTC)
    )

    reply = await reply_to(fake_telegram, USER_ID, "/status")

    assert "no longer accepts" in reply.params["text"]
    assert "/sandbox/oauth/authorize?" in button_url(reply.params)


async def test_disconnect_confirmed(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    account_id = await account_id_of(app, USER_ID)
    question = await reply_to(fake_telegram, USER_ID, "/disconnect")
    confirm, cancel = callback_data(question)
    assert confirm == f"disconnect:yes:{account_id}"
    assert cancel == f"disconnect:no:{account_id}"
    message_id = question.result["message_id"]

    fake_telegram.press_button(USER_ID, message_id, confirm)
    [edit] = await fake_telegram.wait_for("editMessageText")

    assert edit.params["text"] == texts.DISCONNECT_DONE
    assert await app.services.storage.get_account_for_user(USER_ID) is None


async def test_disconnect_cancelled(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    question = await reply_to(fake_telegram, USER_ID, "/disconnect")

    fake_telegram.press_button(USER_ID, question.result["message_id"], callback_data(question)[1])
    [edit] = await fake_telegram.wait_for("editMessageText")

    assert edit.params["text"] == texts.DISCONNECT_CANCELLED
    assert await app.services.storage.get_account_for_user(USER_ID) is not None


async def test_disconnect_button_of_other_user(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    await connect_user(app, fake_telegram, OTHER_USER_ID)
    fake_telegram.add_group(GROUP_ID, "Friends", admins=[USER_ID, OTHER_USER_ID])
    question = await reply_to(
        fake_telegram, USER_ID, "/disconnect", chat_id=GROUP_ID, chat_type="group"
    )

    fake_telegram.press_button(
        OTHER_USER_ID, question.result["message_id"], callback_data(question)[0], chat_id=GROUP_ID
    )
    [answer] = await fake_telegram.wait_for("answerCallbackQuery")

    assert answer.params["text"] == texts.NOT_YOUR_BUTTON
    assert await app.services.storage.get_account_for_user(USER_ID) is not None
    assert await app.services.storage.get_account_for_user(OTHER_USER_ID) is not None
    assert fake_telegram.calls("editMessageText") == []


async def test_disconnect_without_account(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "/disconnect")

    assert reply.params["text"] == texts.DISCONNECT_NOTHING


async def test_error_handler_answers_briefly(
    app: GramlinkApp, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    fake_telegram.fail_next("sendMessage", 400, "Bad Request: chat not found")

    fake_telegram.send_message(USER_ID, "/help secret words")
    calls = await fake_telegram.wait_for("sendMessage", count=2)

    assert calls[1].params["text"] == texts.ERROR_GENERIC
    failures = [record for record in caplog.records if record.name == "bot.handlers.commands"]
    assert failures[0].exc_info is not None
    assert "secret words" not in caplog.text


async def test_status_after_deauthorize(app: GramlinkApp, fake_telegram: FakeTelegram) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    await app.services.deletion.deauthorize("17841400000000001")

    status = await reply_to(fake_telegram, USER_ID, "/status")
    question = await reply_to(fake_telegram, USER_ID, "/disconnect")

    assert "was removed in Instagram's settings" in status.params["text"]
    assert callback_data(question)[0] == f"disconnect:yes:{await account_id_of(app, USER_ID)}"


async def test_old_disconnect_question_expires(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    question = await reply_to(fake_telegram, USER_ID, "/disconnect")
    await connect_user(app, fake_telegram, USER_ID, EMPTY_ACCOUNT_ID)

    answer = await press(
        fake_telegram, USER_ID, question.result["message_id"], callback_data(question)[0]
    )

    assert answer["text"] == texts.DISCONNECT_EXPIRED
    assert answer["show_alert"] is True
    account = await app.services.storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.username == "sandbox.empty"
    assert fake_telegram.calls("editMessageText") == []


async def test_disconnect_cancel_twice_edits_once(
    app: GramlinkApp, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    question = await reply_to(fake_telegram, USER_ID, "/disconnect")
    message_id, cancel = question.result["message_id"], callback_data(question)[1]

    first = await press(fake_telegram, USER_ID, message_id, cancel)
    await fake_telegram.wait_for("editMessageText")
    second = await press(fake_telegram, USER_ID, message_id, cancel)

    assert first["text"] == ""
    assert second["text"] == texts.DISCONNECT_ALREADY_ANSWERED
    [edit] = fake_telegram.calls("editMessageText")
    assert edit.params["text"] == texts.DISCONNECT_CANCELLED
    assert errors(caplog) == []


async def test_disconnect_yes_twice_keeps_done_text(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    question = await reply_to(fake_telegram, USER_ID, "/disconnect")
    message_id, confirm = question.result["message_id"], callback_data(question)[0]

    await press(fake_telegram, USER_ID, message_id, confirm)
    await fake_telegram.wait_for("editMessageText")
    second = await press(fake_telegram, USER_ID, message_id, confirm)

    assert second["text"] == texts.DISCONNECT_ALREADY_ANSWERED
    [edit] = fake_telegram.calls("editMessageText")
    assert edit.params["text"] == texts.DISCONNECT_DONE
    assert await app.services.storage.get_account_for_user(USER_ID) is None


async def test_disconnect_forged_data_in_group(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    await connect_user(app, fake_telegram, OTHER_USER_ID)
    fake_telegram.add_group(GROUP_ID, "Friends", admins=[USER_ID, OTHER_USER_ID])
    question = await reply_to(
        fake_telegram, USER_ID, "/disconnect", chat_id=GROUP_ID, chat_type="group"
    )
    forged = f"disconnect:yes:{await account_id_of(app, OTHER_USER_ID)}"

    answer = await press(
        fake_telegram, OTHER_USER_ID, question.result["message_id"], forged, chat_id=GROUP_ID
    )

    assert answer["text"] == texts.DISCONNECT_ALREADY_ANSWERED
    assert fake_telegram.calls("editMessageText") == []
    assert await app.services.storage.get_account_for_user(USER_ID) is not None
    assert await app.services.storage.get_account_for_user(OTHER_USER_ID) is not None


async def test_disconnect_question_quotes_command_in_group(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    fake_telegram.add_group(GROUP_ID, "Friends", admins=[USER_ID])

    question = await reply_to(
        fake_telegram, USER_ID, "/disconnect", chat_id=GROUP_ID, chat_type="group"
    )

    assert question.result["reply_to_message"]["from"]["id"] == USER_ID


NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


async def test_error_handler_ignores_not_modified(caplog: pytest.LogCaptureFixture) -> None:
    context = SimpleNamespace(error=BadRequest(NOT_MODIFIED))

    with caplog.at_level(logging.DEBUG, logger="bot.handlers.commands"):
        await handle_error(None, context)  # type: ignore[arg-type]

    assert errors(caplog) == []
    assert "edited a message to its current content" in caplog.text


async def test_disconnect_edit_not_modified_is_no_error(
    app: GramlinkApp, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    await connect_user(app, fake_telegram, USER_ID)
    question = await reply_to(fake_telegram, USER_ID, "/disconnect")
    message_id, cancel = question.result["message_id"], callback_data(question)[1]
    fake_telegram.fail_next("editMessageText", 400, NOT_MODIFIED)

    await press(fake_telegram, USER_ID, message_id, cancel)
    await fake_telegram.wait_for("editMessageText")
    # The failed edit left the buttons, so a second press edits again. Waiting for that edit
    # lets the first update finish in practice; the test above checks the handler directly.
    await press(fake_telegram, USER_ID, message_id, cancel)
    edits = await fake_telegram.wait_for("editMessageText", count=2)

    assert edits[1].params["text"] == texts.DISCONNECT_CANCELLED
    assert errors(caplog) == []
    assert len(fake_telegram.calls("answerCallbackQuery")) == 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("hello", texts.BUTTON_NO_LONGER_WORKS),
        ("x" * 64, texts.BUTTON_NO_LONGER_WORKS),
        ("disconnect:maybe:1", texts.BUTTON_NO_LONGER_WORKS),
        ("sc:abc", texts.BUTTON_NO_LONGER_WORKS),
        ("m:abc:1234567", texts.MEDIA_STALE),
        ("m:abcdef0123456789:99999999999999999999", texts.MEDIA_STALE),
        ("m:abc:1\n", texts.MEDIA_STALE),
    ],
)
async def test_unknown_button_is_answered(
    app: GramlinkApp, fake_telegram: FakeTelegram, data: str, expected: str
) -> None:
    message = await reply_to(fake_telegram, USER_ID, "/help")

    answer = await press(fake_telegram, USER_ID, message.result["message_id"], data)

    assert answer["text"] == expected


async def test_unknown_command_in_private_points_to_help(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "/frobnicate")

    assert reply.params["text"] == texts.UNKNOWN_COMMAND


async def test_plain_text_in_private_points_to_help(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    reply = await reply_to(fake_telegram, USER_ID, "hello there")

    assert reply.params["text"] == texts.TEXT_NOT_UNDERSTOOD


async def test_unknown_text_in_group_is_ignored(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.add_group(GROUP_ID, "Friends", admins=[USER_ID])
    fake_telegram.send_message(USER_ID, "hello group", chat_id=GROUP_ID, chat_type="group")
    fake_telegram.send_message(USER_ID, "/frobnicate", chat_id=GROUP_ID, chat_type="group")

    # Updates are handled in order, so the reply to /help comes after the two messages above.
    reply = await reply_to(fake_telegram, USER_ID, "/help", chat_id=GROUP_ID, chat_type="group")

    assert reply.params["text"] == texts.help_text()
    assert len(fake_telegram.calls("sendMessage")) == 1
