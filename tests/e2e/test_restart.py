"""State kept in the database survives a restart of the process."""

from __future__ import annotations

import httpx
import pytest

from bot.playground import DEMO_USER_ID, FakeTelegram
from tests.e2e.conftest import LaunchBot
from tests.e2e.support import (
    DEMO_USERNAME,
    NEWER,
    OLDER,
    callback_button,
    connect_account,
    free_port,
    press,
    send_and_wait_reply,
    sent_media_captions,
    wait_for_new_control,
)

pytestmark = pytest.mark.e2e


async def test_old_older_button_works_after_restart(
    launch_bot: LaunchBot, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    port = free_port()
    first = await launch_bot(port=port)
    await connect_account(telegram, http, DEMO_USER_ID)
    telegram.send_message(DEMO_USER_ID, "/media")
    control = await wait_for_new_control(telegram, DEMO_USER_ID, None)
    older = callback_button(control, OLDER)
    assert older is not None
    returncode, _seconds = await first.stop()
    assert returncode == 0, first.log_text()

    second = await launch_bot(port=port)
    status = await send_and_wait_reply(telegram, DEMO_USER_ID, "/status")
    assert f"@{DEMO_USERNAME}" in status["text"]
    requests_mark = len(telegram.requests)
    await press(telegram, DEMO_USER_ID, control, older)
    next_control = await wait_for_new_control(telegram, DEMO_USER_ID, control)

    assert callback_button(next_control, NEWER) is not None
    assert sent_media_captions(telegram.requests[requests_mark:]), "no media after Older"
    assert "Traceback" not in second.log_text()
