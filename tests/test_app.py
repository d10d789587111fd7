"""The whole process in sandbox mode against the fake Bot API: connect flow, webhook, stop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from app_helpers import DEMO_ACCOUNT_ID, allow_in_sandbox, button_url, connect_user
from telegram.error import InvalidToken

from bot.app import GramlinkApp, create_app
from bot.config import Settings
from bot.handlers.texts import BOT_COMMANDS
from bot.web import SECRET_HEADER
from storage import AccountStatus

if TYPE_CHECKING:
    from bot.playground import FakeTelegram

USER_ID = 3001
WEBHOOK_SECRET = "hook_secret-42"


@pytest.fixture
def app(running_app: GramlinkApp) -> GramlinkApp:
    return running_app


async def test_connect_flow_end_to_end(
    app: GramlinkApp, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake_telegram.send_message(USER_ID, "/connect")
    [connect_reply] = await fake_telegram.wait_for("sendMessage")
    authorize_url = button_url(connect_reply.params)
    assert authorize_url.startswith(f"{app.settings.public_url_base}/sandbox/oauth/authorize?")

    callback_url = await allow_in_sandbox(authorize_url)
    async with httpx.AsyncClient() as client:
        page = await client.get(callback_url)

    assert page.status_code == 200
    assert "Connected as @sandbox.demo" in page.text
    assert "https://t.me/gramlink_demo_bot" in page.text
    messages = await fake_telegram.wait_for("sendMessage", count=2)
    assert "Connected as <b>@sandbox.demo</b>" in messages[1].params["text"]
    assert str(messages[1].params["chat_id"]) == str(USER_ID)

    account = await app.services.storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.status is AccountStatus.ACTIVE
    assert account.access_token is not None
    with sqlite3.connect(tmp_path / "gramlink.db") as database:
        [(stored,)] = database.execute("SELECT access_token_encrypted FROM accounts").fetchall()
    assert stored
    assert account.access_token not in stored


async def test_denied_in_sandbox_changes_nothing(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.send_message(USER_ID, "/connect")
    [connect_reply] = await fake_telegram.wait_for("sendMessage")
    authorize_url = button_url(connect_reply.params)
    form = {**dict(httpx.URL(authorize_url).params), "decision": "deny"}

    async with httpx.AsyncClient(follow_redirects=True) as client:
        page = await client.post(authorize_url.split("?")[0], data=form)

    assert page.status_code == 400
    assert "You declined" in page.text
    assert await app.services.storage.count_accounts() == 0


async def test_start_registers_commands_and_polls(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    [set_commands] = fake_telegram.calls("setMyCommands")
    registered = [command["command"] for command in set_commands.params["commands"]]

    fake_telegram.send_message(USER_ID, "/start")
    [reply] = await fake_telegram.wait_for("sendMessage")

    assert registered == [command for command, _ in BOT_COMMANDS]
    assert "/connect" in reply.params["text"]
    assert fake_telegram.calls("setWebhook") == []


async def test_healthz_while_running(app: GramlinkApp) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{app.local_url}/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "scheduler": "ok"}


async def test_stop_closes_everything(app_settings: Callable[..., Settings]) -> None:
    app = create_app(app_settings())
    await app.start()
    storage, scheduler = app.services.storage, app.scheduler
    url = f"{app.local_url}/healthz"

    await app.stop()

    assert scheduler.running is False
    assert await storage.ping() is False
    assert app.application.running is False
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(url)


async def test_stop_without_start_is_harmless(app_settings: Callable[..., Settings]) -> None:
    app = create_app(app_settings())

    await app.stop()

    with pytest.raises(RuntimeError):
        _ = app.bound_port


async def test_port_zero_picks_free_port(app_settings: Callable[..., Settings]) -> None:
    app = create_app(app_settings(http_port=0))
    await app.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{app.bound_port}/healthz")
    finally:
        await app.stop()

    assert app.bound_port > 0
    assert response.status_code == 200


async def test_webhook_mode(
    app_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    app = create_app(app_settings(telegram_webhook_secret=WEBHOOK_SECRET))
    await app.start()
    try:
        [set_webhook] = fake_telegram.calls("setWebhook")
        update = {
            "update_id": 900,
            "message": {
                "message_id": 7,
                "date": 1736510400,
                "chat": {"id": USER_ID, "type": "private"},
                "from": {"id": USER_ID, "is_bot": False, "first_name": "Ana"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        async with httpx.AsyncClient() as client:
            wrong = await client.post(
                f"{app.local_url}/telegram/webhook", json=update, headers={SECRET_HEADER: "no"}
            )
            missing = await client.post(f"{app.local_url}/telegram/webhook", json=update)
            right = await client.post(
                f"{app.local_url}/telegram/webhook",
                json=update,
                headers={SECRET_HEADER: WEBHOOK_SECRET},
            )
        [reply] = await fake_telegram.wait_for("sendMessage")
    finally:
        await app.stop()

    assert set_webhook.params["url"] == f"{app.settings.public_url_base}/telegram/webhook"
    assert set_webhook.params["secret_token"] == WEBHOOK_SECRET
    assert fake_telegram.calls("getUpdates") == []
    assert wrong.status_code == 403
    assert missing.status_code == 403
    assert right.status_code == 200
    assert "/connect" in reply.params["text"]


async def test_deletion_callback_with_signed_request(
    app: GramlinkApp, fake_telegram: FakeTelegram
) -> None:
    from bot.instagram import build_signed_request
    from bot.sandbox import SANDBOX_CLIENT_SECRET

    await connect_user(app, fake_telegram, USER_ID)
    async with httpx.AsyncClient() as client:
        signed_request = build_signed_request({"user_id": DEMO_ACCOUNT_ID}, SANDBOX_CLIENT_SECRET)
        response = await client.post(
            f"{app.local_url}/instagram/data-deletion", data={"signed_request": signed_request}
        )
        code = response.json()["confirmation_code"]
        for _ in range(50):
            page = await client.get(f"{app.local_url}/deletion/{code}")
            if "Data deleted" in page.text:
                break
            await asyncio.sleep(0.05)

    assert response.status_code == 200
    assert "Data deleted" in page.text
    assert await app.services.storage.accounts_for_instagram_user(DEMO_ACCOUNT_ID) == []


async def test_rejected_token_stops_start(app_settings: Callable[..., Settings]) -> None:
    app = create_app(app_settings(telegram_bot_token="999:WRONG-token"))

    with pytest.raises(InvalidToken):
        await app.start()

    port = app.bound_port
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")
    await app.stop()
