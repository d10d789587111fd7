"""Browsing photos with /media and posting one through inline mode, in the real process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.playground import DEMO_GROUP_ID, DEMO_USER_ID, SECOND_DEMO_USER_ID, FakeTelegram
from bot.sandbox.content import build_accounts
from tests.e2e.support import (
    NEWER,
    OLDER,
    BotProcess,
    buttons,
    callback_button,
    connect_account,
    inline_answer,
    last_message_id,
    press,
    sent_media_captions,
    wait_for_new_control,
)

pytestmark = pytest.mark.e2e

# Telegram rejects callback data longer than 64 bytes.
MAX_CALLBACK_DATA_BYTES = 64
# A walk through 64 posts needs far fewer pages than this; more means the buttons loop.
MAX_PAGES = 30


def demo_shortcodes() -> dict[str, bool]:
    """Map the permalink short code of every sandbox.demo post to whether it has a media URL.

    A reel with copyrighted audio has no media URL.
    """
    demo = build_accounts()[0]
    return {post.shortcode: post.has_media_url for post in demo.posts}


def shortcodes_in(captions: list[str], known: dict[str, bool]) -> set[str]:
    """Return the known short codes that appear in the captions, through the post links."""
    return {code for code in known for caption in captions if code in caption}


async def next_page(
    telegram: FakeTelegram, requests_mark: int, previous: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """Wait for the control message that follows `previous` and return it with the captions
    of the media sent since `requests_mark`."""
    control = await wait_for_new_control(telegram, DEMO_USER_ID, previous)
    for button in buttons(control):
        data = button.get("callback_data", "")
        assert len(data.encode()) <= MAX_CALLBACK_DATA_BYTES, data
    return control, sent_media_captions(telegram.requests[requests_mark:])


async def test_media_pages_older_to_end_and_back(
    gramlink: BotProcess, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    await connect_account(telegram, http, DEMO_USER_ID)
    known = demo_shortcodes()
    requests_mark = len(telegram.requests)

    telegram.send_message(DEMO_USER_ID, "/media")
    control, captions = await next_page(telegram, requests_mark, None)

    albums = [
        call for call in telegram.requests[requests_mark:] if call.method == "sendMediaGroup"
    ]
    assert albums, "/media sent no album"
    for album in albums:
        assert album.ok, album.description
        assert 2 <= len(album.params["media"]) <= 10
    assert callback_button(control, OLDER) is not None
    assert callback_button(control, NEWER) is None
    pages = [shortcodes_in(captions, known)]
    assert pages[0], "the first page names no post of sandbox.demo"

    while (older := callback_button(control, OLDER)) is not None:
        assert len(pages) < MAX_PAGES, "the Older button never ends"
        requests_mark = len(telegram.requests)
        await press(telegram, DEMO_USER_ID, control, older)
        control, captions = await next_page(telegram, requests_mark, control)
        pages.append(shortcodes_in(captions, known))

    assert len(pages) > 1
    assert callback_button(control, NEWER) is not None
    shown_codes = set().union(*pages)
    with_media = {code for code, has_media_url in known.items() if has_media_url}
    assert with_media <= shown_codes, f"{len(with_media - shown_codes)} posts were never shown"
    assert sum(len(page) for page in pages) == len(shown_codes), "a post was shown on two pages"

    newer_presses = 0
    while (newer := callback_button(control, NEWER)) is not None:
        assert newer_presses < MAX_PAGES, "the Newer button never ends"
        requests_mark = len(telegram.requests)
        await press(telegram, DEMO_USER_ID, control, newer)
        control, captions = await next_page(telegram, requests_mark, control)
        newer_presses += 1

    assert newer_presses == len(pages) - 1
    assert shortcodes_in(captions, known) == pages[0]
    assert callback_button(control, OLDER) is not None


async def test_inline_query_posts_chosen_photo(
    gramlink: BotProcess, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    await connect_account(telegram, http, DEMO_USER_ID)

    answer = await inline_answer(telegram, DEMO_USER_ID, "")

    results = answer["results"]
    assert results, "the inline query returned no photo"
    assert len(results) <= 50
    assert all(result["type"] == "photo" for result in results)
    assert len({result["id"] for result in results}) == len(results)

    mark = last_message_id(telegram, DEMO_GROUP_ID)
    posted = await telegram.post_inline_result(DEMO_USER_ID, DEMO_GROUP_ID, results[0])
    telegram.choose_inline_result(DEMO_USER_ID, results[0]["id"])

    assert posted["message_id"] > mark
    assert "photo" in posted
    assert posted["via_bot"]["username"] == telegram.bot_user["username"]


async def test_inline_query_offers_connect_button(
    gramlink: BotProcess, telegram: FakeTelegram
) -> None:
    answer = await inline_answer(telegram, SECOND_DEMO_USER_ID, "")

    assert answer["results"] == []
    assert answer.get("button"), "a user without an account gets no button to connect"
