"""A real python-telegram-bot Bot against the fake Bot API."""

from __future__ import annotations

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from bot.playground import FakeTelegram
from tests.playground.conftest import TOKEN, ImageServer, jpeg_bytes

USER_ID = 1001
GROUP_ID = -4001001001


async def test_get_me_returns_bot_user(bot: Bot) -> None:
    me = await bot.get_me()

    assert me.username == "gramlink_demo_bot"
    assert me.is_bot
    assert me.supports_inline_queries
    assert me.id == 123456


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.api_url}/bot999:WRONG/getMe") as response,
    ):
        body = await response.json()

    assert response.status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_is_not_found(fake: FakeTelegram) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.api_url}/bot{TOKEN}/sendTelepathy") as response,
    ):
        body = await response.json()

    assert response.status == 404
    assert body["description"] == "Not Found"


async def test_method_names_are_case_insensitive(fake: FakeTelegram) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.api_url}/bot{TOKEN}/getme") as response,
    ):
        body = await response.json()

    assert body["ok"] is True
    assert fake.calls("getMe")


async def test_send_message_with_keyboard(fake: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Older", callback_data="page:2")],
            [InlineKeyboardButton("Connect", url="http://127.0.0.1:8080/sandbox/oauth")],
            [InlineKeyboardButton("Share", switch_inline_query="")],
        ]
    )

    first = await bot.send_message(USER_ID, "<b>Hello</b> there", parse_mode=ParseMode.HTML)
    second = await bot.send_message(USER_ID, "Page 1", reply_markup=keyboard)

    assert first.text == "Hello there"
    assert first.entities[0].type == "bold"
    assert second.message_id == first.message_id + 1
    assert second.reply_markup == keyboard
    assert second.from_user is not None
    assert second.from_user.is_bot
    assert fake.calls("sendMessage")[1].params["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Older",
        "callback_data": "page:2",
    }


async def test_send_message_rejects_long_text(bot: Bot) -> None:
    await bot.send_message(USER_ID, "x" * 4096)

    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER_ID, "x" * 4097)


async def test_send_message_rejects_unsupported_html(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(USER_ID, "<div>x</div>", parse_mode=ParseMode.HTML)


async def test_callback_data_over_64_bytes_rejected(bot: Bot) -> None:
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])

    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER_ID, "menu", reply_markup=too_long)


async def test_unknown_group_is_chat_not_found(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-777, "hello")


async def test_send_media_group_by_url(
    fake: FakeTelegram, bot: Bot, image_server: ImageServer
) -> None:
    media = [
        InputMediaPhoto(
            image_server.url("/photos/a.jpg"), caption="<i>First</i>", parse_mode="HTML"
        ),
        InputMediaPhoto(image_server.url("/photos/b.jpg")),
    ]

    messages = await bot.send_media_group(USER_ID, media)

    assert len(messages) == 2
    assert messages[0].media_group_id == messages[1].media_group_id
    assert messages[0].caption == "First"
    assert messages[0].photo[-1].width == 40
    assert messages[0].photo[-1].height == 30
    assert fake.downloads == 2
    assert image_server.hits == ["/photos/a.jpg", "/photos/b.jpg"]


async def test_album_of_eleven_rejected(bot: Bot, image_server: ImageServer) -> None:
    media = [InputMediaPhoto(image_server.url(f"/photos/{i}.jpg")) for i in range(11)]

    with pytest.raises(BadRequest, match="Too many messages to send as an album"):
        await bot.send_media_group(USER_ID, media)

    assert image_server.hits == []


async def test_album_of_one_rejected(fake: FakeTelegram, image_server: ImageServer) -> None:
    url = f"{fake.api_url}/bot{TOKEN}/sendMediaGroup"
    media = [{"type": "photo", "media": image_server.url("/photos/a.jpg")}]
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"chat_id": USER_ID, "media": media}) as response,
    ):
        body = await response.json()

    assert response.status == 400
    assert body["description"] == "Bad Request: media group must contain at least 2 items"


async def test_caption_limit_counts_utf16_units(bot: Bot, image_server: ImageServer) -> None:
    url = image_server.url("/photos/a.jpg")

    accepted = await bot.send_photo(USER_ID, url, caption="😀" * 512)
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(USER_ID, url, caption="😀" * 512 + "a")

    assert accepted.caption == "😀" * 512


async def test_html_caption_limit_counts_visible_text(bot: Bot, image_server: ImageServer) -> None:
    caption = "<b>" + "a" * 1024 + "</b>"

    message = await bot.send_photo(
        USER_ID, image_server.url("/photos/a.jpg"), caption=caption, parse_mode="HTML"
    )

    assert message.caption == "a" * 1024


async def test_album_caption_over_limit_rejected(bot: Bot, image_server: ImageServer) -> None:
    media = [
        InputMediaPhoto(image_server.url("/photos/a.jpg"), caption="😀" * 513),
        InputMediaPhoto(image_server.url("/photos/b.jpg")),
    ]

    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_media_group(USER_ID, media)


async def test_file_id_reuse_makes_no_download(
    fake: FakeTelegram, bot: Bot, image_server: ImageServer
) -> None:
    first = await bot.send_photo(USER_ID, image_server.url("/photos/a.jpg"))
    file_id = first.photo[-1].file_id

    again = await bot.send_photo(USER_ID, file_id)
    album = await bot.send_media_group(
        USER_ID, [InputMediaPhoto(file_id), InputMediaPhoto(file_id)]
    )

    assert fake.downloads == 1
    assert len(image_server.hits) == 1
    assert again.photo[-1].file_unique_id == first.photo[-1].file_unique_id
    assert len(album) == 2


async def test_unknown_file_id_rejected(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Wrong file identifier/http url specified"):
        await bot.send_photo(USER_ID, "AgACnot-a-real-file-id")


async def test_url_fetch_fails_gives_bad_request(
    fake: FakeTelegram, bot: Bot, image_server: ImageServer
) -> None:
    fake.url_fetch_fails = True

    with pytest.raises(BadRequest, match="Failed to get http url content"):
        await bot.send_photo(USER_ID, image_server.url("/photos/a.jpg"))

    assert fake.downloads == 0


@pytest.mark.parametrize(
    "url",
    [
        "/expired.jpg",
        "https://cdninstagram.example.invalid/photo.jpg",
    ],
)
async def test_unfetchable_url_gives_bad_request(
    bot: Bot, image_server: ImageServer, url: str
) -> None:
    full_url = image_server.url(url) if url.startswith("/") else url

    with pytest.raises(BadRequest, match="Failed to get http url content"):
        await bot.send_photo(USER_ID, full_url)


async def test_photo_url_with_html_page_rejected(bot: Bot, image_server: ImageServer) -> None:
    with pytest.raises(BadRequest, match="Wrong type of the web page content"):
        await bot.send_photo(USER_ID, image_server.url("/page.html"))


async def test_upload_counts_and_get_file_downloads(fake: FakeTelegram, bot: Bot) -> None:
    image = jpeg_bytes()

    message = await bot.send_photo(USER_ID, image)
    telegram_file = await bot.get_file(message.photo[-1].file_id)
    downloaded = await telegram_file.download_as_bytearray()

    assert fake.uploads == 1
    assert fake.downloads == 0
    assert bytes(downloaded) == image
    assert fake.calls("sendPhoto")[0].files["photo"] == image


async def test_album_upload_uses_attach_names(fake: FakeTelegram, bot: Bot) -> None:
    media = [InputMediaPhoto(jpeg_bytes()), InputMediaPhoto(jpeg_bytes(8, 8))]

    messages = await bot.send_media_group(USER_ID, media)

    assert fake.uploads == 2
    assert messages[1].photo[-1].width == 8


async def test_fail_next_429_raises_retry_after(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER_ID, "hello")
    await bot.send_message(USER_ID, "hello again")

    assert caught.value.retry_after.total_seconds() == 7
    assert fake.rate_limited == 1
    assert [call.ok for call in fake.calls("sendMessage")] == [False, True]


async def test_migrated_group_raises_chat_migrated(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP_ID, "Friends", admins=[USER_ID])
    fake.migrate_group(GROUP_ID, -1001234567890)

    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(GROUP_ID, "hello")
    sent = await bot.send_message(-1001234567890, "hello")
    updates = await bot.get_updates()

    assert caught.value.new_chat_id == -1001234567890
    assert sent.chat.type == "supergroup"
    assert updates[0].message is not None
    assert updates[0].message.migrate_to_chat_id == -1001234567890
    assert updates[1].message is not None
    assert updates[1].message.migrate_from_chat_id == GROUP_ID


async def test_blocked_user_raises_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    fake.block_bot(USER_ID)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "hello")
    updates = await bot.get_updates()

    assert updates[0].my_chat_member is not None
    assert updates[0].my_chat_member.new_chat_member.status == "kicked"


async def test_removed_from_group_raises_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP_ID, "Friends", admins=[USER_ID])
    fake.block_bot(GROUP_ID)

    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(GROUP_ID, "hello")


async def test_group_admins_and_members(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP_ID, "Friends", admins=[USER_ID, 1002])
    fake.send_message(1003, "hi all", chat_id=GROUP_ID, chat_type="group")

    admins = await bot.get_chat_administrators(GROUP_ID)
    member = await bot.get_chat_member(GROUP_ID, 1003)
    stranger = await bot.get_chat_member(GROUP_ID, 1004)
    chat = await bot.get_chat(GROUP_ID)

    assert [admin.status for admin in admins] == ["creator", "administrator"]
    assert [admin.user.id for admin in admins] == [USER_ID, 1002]
    assert member.status == "member"
    assert stranger.status == "left"
    assert chat.title == "Friends"


async def test_edit_message_text_and_not_modified(bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Newer", callback_data="page:1")]])
    message = await bot.send_message(USER_ID, "Page 2", reply_markup=keyboard)

    edited = await bot.edit_message_text(
        "Page 3", USER_ID, message.message_id, reply_markup=keyboard
    )
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Page 3", USER_ID, message.message_id, reply_markup=keyboard)
    without_keyboard = await bot.edit_message_reply_markup(USER_ID, message.message_id)

    assert isinstance(edited, Message)
    assert edited.text == "Page 3"
    assert isinstance(without_keyboard, Message)
    assert without_keyboard.reply_markup is None


async def test_delete_message_twice_fails(bot: Bot) -> None:
    message = await bot.send_message(USER_ID, "bye")

    assert await bot.delete_message(USER_ID, message.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER_ID, message.message_id)


async def test_my_commands_round_trip(bot: Bot) -> None:
    commands = [BotCommand("start", "Say hello"), BotCommand("media", "Show your newest posts")]

    await bot.set_my_commands(commands)

    assert await bot.get_my_commands() == tuple(commands)


async def test_bad_command_name_rejected(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start", "Say hello")])


async def test_enforce_limits_group_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    strict = FakeTelegram(TOKEN, enforce_limits=True)
    await strict.start()
    try:
        strict_bot = Bot(TOKEN, base_url=f"{strict.api_url}/bot")
        async with strict_bot:
            strict.add_group(GROUP_ID, "Friends", admins=[USER_ID])
            for number in range(20):
                await strict_bot.send_message(GROUP_ID, f"post {number}")
            with pytest.raises(RetryAfter) as caught:
                await strict_bot.send_message(GROUP_ID, "one too many")
    finally:
        await strict.stop()

    assert strict.rate_limited == 1
    assert caught.value.retry_after.total_seconds() > 0


async def test_wait_for_times_out_with_count(fake: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="sendMessage was called 0 times"):
        await fake.wait_for("sendMessage", timeout=0.05)
