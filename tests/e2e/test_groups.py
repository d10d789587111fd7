"""A group subscribes to a member's posts and the scheduler delivers a new post once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.handlers import texts
from bot.playground import DEMO_USER_ID, FakeTelegram
from tests.e2e.conftest import LaunchBot
from tests.e2e.support import (
    DEMO_USERNAME,
    bot_messages,
    connect_account,
    is_media,
    send_and_wait_reply,
    wait_until,
    wait_until_async,
)

pytestmark = pytest.mark.e2e

GROUP_ID = -4002002002
POLL_INTERVAL_SECONDS = 1
NEW_POST_CAPTION = "Fresh from the harbour, posted during the end-to-end test"


async def graph_calls(http: httpx.AsyncClient, base_url: str) -> int:
    """Return how many Graph API requests the sandbox has served."""
    response = await http.get(f"{base_url}/sandbox/control/requests")
    counts: dict[str, int] = response.json()["counts"]
    return sum(count for endpoint, count in counts.items() if endpoint.startswith("graph."))


async def test_subscription_delivers_new_post_once(
    launch_bot: LaunchBot, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    gramlink = await launch_bot(POLL_INTERVAL_SECONDS=POLL_INTERVAL_SECONDS)
    await connect_account(telegram, http, DEMO_USER_ID)
    telegram.add_group(GROUP_ID, "End-to-end group", admins=[DEMO_USER_ID])

    reply = await send_and_wait_reply(
        telegram, DEMO_USER_ID, "/subscribe", chat_id=GROUP_ID, chat_type="group"
    )
    assert reply.get("text") != texts.ERROR_GENERIC

    # Let one poll see the subscription before the post exists, so the post is new to it.
    calls_before = await graph_calls(http, gramlink.base_url)

    async def polled() -> bool:
        return await graph_calls(http, gramlink.base_url) > calls_before

    await wait_until_async(polled, description="a subscription poll")
    created = await http.post(
        f"{gramlink.base_url}/sandbox/control/posts",
        json={"account": DEMO_USERNAME, "media_type": "IMAGE", "caption": NEW_POST_CAPTION},
    )
    assert created.status_code == 201

    def delivered() -> list[dict[str, object]]:
        return [
            message
            for message in bot_messages(telegram, GROUP_ID)
            if is_media(message) and NEW_POST_CAPTION in str(message.get("caption", ""))
        ]

    await wait_until(delivered, description="the new post in the group")
    # Later polls must not deliver the post again.
    await asyncio.sleep(3 * POLL_INTERVAL_SECONDS)

    assert len(delivered()) == 1
    media_in_group = [message for message in bot_messages(telegram, GROUP_ID) if is_media(message)]
    assert len(media_in_group) == 1, "older posts were delivered to the group"
