"""Connecting, checking and deleting an account through the real process."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.handlers import texts
from bot.playground import DEMO_USER_ID, FakeTelegram
from bot.sandbox import SANDBOX_CLIENT_SECRET
from tests.e2e.conftest import LaunchBot
from tests.e2e.support import (
    BOT_TOKEN,
    CLEAN_STOP_SECONDS,
    DEMO_INSTAGRAM_ID,
    DEMO_USERNAME,
    BotProcess,
    connect_account,
    leaked_secrets,
    page_text,
    send_and_wait_reply,
    url_button,
    wait_until_async,
    walk_authorization,
)

pytestmark = pytest.mark.e2e


async def test_start_help_connect_and_status(
    launch_bot: LaunchBot, telegram: FakeTelegram, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    # At DEBUG, httpx and python-telegram-bot log every request URL, which contains tokens.
    gramlink = await launch_bot(LOG_LEVEL="DEBUG")
    greeting = await send_and_wait_reply(telegram, DEMO_USER_ID, "/start")
    assert "/connect" in greeting["text"]
    help_reply = await send_and_wait_reply(telegram, DEMO_USER_ID, "/help")
    for command in ("/connect", "/status", "/media", "/subscribe", "/disconnect"):
        assert command in help_reply["text"]
    registered = [call.params["commands"] for call in telegram.calls("setMyCommands")]
    assert registered, "the bot never called setMyCommands"
    assert "media" in [command["command"] for command in registered[-1]]

    not_connected = await send_and_wait_reply(telegram, DEMO_USER_ID, "/status")
    assert not_connected["text"] == texts.NOT_CONNECTED

    outcome, confirmation = await connect_account(telegram, http, DEMO_USER_ID)
    assert outcome.redirect_location.endswith("#_")
    assert f"@{DEMO_USERNAME}" in page_text(outcome.callback.text)
    assert f"Connected as @{DEMO_USERNAME}" in confirmation["text"]

    status = await send_and_wait_reply(telegram, DEMO_USER_ID, "/status")
    assert f"@{DEMO_USERNAME}" in status["text"]
    assert "business account" in status["text"]
    assert "valid until" in status["text"]

    code = parse_qs(urlsplit(outcome.redirect_location).query)["code"][0]
    returncode, seconds = await gramlink.stop()
    log = gramlink.log_text()
    assert returncode == 0, log
    assert seconds < CLEAN_STOP_SECONDS, f"stopping took {seconds:.1f} s"
    assert "Traceback" not in log
    key_file = tmp_path / "gramlink.db.key"
    secrets = [BOT_TOKEN, BOT_TOKEN.split(":", 1)[1], SANDBOX_CLIENT_SECRET, code]
    if key_file.exists():
        secrets.append(key_file.read_text().strip())
    assert leaked_secrets(log, secrets) == []


async def test_denied_authorization_connects_nothing(
    gramlink: BotProcess, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    prompt = await send_and_wait_reply(telegram, DEMO_USER_ID, "/connect")
    authorize_url = url_button(prompt)
    assert authorize_url is not None

    outcome = await walk_authorization(http, authorize_url, decision="deny")

    assert "error=access_denied" in outcome.redirect_location
    assert outcome.callback.status_code == 400
    assert "declined" in page_text(outcome.callback.text)
    status = await send_and_wait_reply(telegram, DEMO_USER_ID, "/status")
    assert status["text"] == texts.NOT_CONNECTED
    # The link of a declined authorization cannot be used again.
    again = await walk_authorization(http, authorize_url, decision="allow")
    assert again.callback.status_code == 400


async def test_data_deletion_disconnects_account(
    gramlink: BotProcess, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    await connect_account(telegram, http, DEMO_USER_ID)
    signed = await http.post(
        f"{gramlink.base_url}/sandbox/control/signed-request",
        json={"user_id": DEMO_INSTAGRAM_ID},
    )
    assert signed.status_code == 200

    response = await http.post(
        f"{gramlink.base_url}/instagram/data-deletion",
        data={"signed_request": signed.json()["signed_request"]},
    )

    assert response.status_code == 200
    body = response.json()
    status_url = body["url"]
    assert status_url == f"{gramlink.base_url}/deletion/{body['confirmation_code']}"

    async def completed_page() -> str | None:
        page = await http.get(status_url)
        assert page.status_code == 200
        text = page_text(page.text)
        return text if "Completed on" in text else None

    await wait_until_async(completed_page, description="the deletion status page to say completed")
    status = await send_and_wait_reply(telegram, DEMO_USER_ID, "/status")
    assert status["text"] == texts.NOT_CONNECTED
    unknown = await http.get(f"{gramlink.base_url}/deletion/no-such-code")
    assert unknown.status_code == 404


async def test_data_deletion_rejects_forged_request(
    gramlink: BotProcess, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    await connect_account(telegram, http, DEMO_USER_ID)
    signed = await http.post(
        f"{gramlink.base_url}/sandbox/control/signed-request",
        json={"user_id": DEMO_INSTAGRAM_ID},
    )
    signature, payload = signed.json()["signed_request"].split(".", 1)
    forged = f"{signature[:-2]}AA.{payload}"

    response = await http.post(
        f"{gramlink.base_url}/instagram/data-deletion", data={"signed_request": forged}
    )

    assert response.status_code == 400
    status = await send_and_wait_reply(telegram, DEMO_USER_ID, "/status")
    assert f"@{DEMO_USERNAME}" in status["text"]
