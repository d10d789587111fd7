"""Helpers for tests that drive a running GramlinkApp through the fake Bot API and sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from bot.app import GramlinkApp
    from bot.playground import FakeTelegram

DEMO_ACCOUNT_ID = "17841400000000001"


def button_url(call_params: dict[str, Any]) -> str:
    """Return the URL of the first button of a recorded sendMessage call."""
    keyboard = call_params["reply_markup"]["inline_keyboard"]
    url: str = keyboard[0][0]["url"]
    return url


async def allow_in_sandbox(authorize_url: str, account_id: str = DEMO_ACCOUNT_ID) -> str:
    """Open the sandbox authorize page, press Allow and return the redirect location."""
    async with httpx.AsyncClient() as client:
        page = await client.get(authorize_url)
        assert page.status_code == 200, page.text
        form = {**dict(httpx.URL(authorize_url).params), "account": account_id}
        form["decision"] = "allow"
        redirect = await client.post(authorize_url.split("?")[0], data=form)
    assert redirect.status_code == 302, redirect.text
    return redirect.headers["location"]


async def connect_user(
    app: GramlinkApp,
    fake_telegram: FakeTelegram,
    user_id: int,
    account_id: str = DEMO_ACCOUNT_ID,
) -> None:
    """Send /connect as the user, allow in the sandbox and open the callback page."""
    before = len(fake_telegram.calls("sendMessage"))
    fake_telegram.send_message(user_id, "/connect")
    calls = await fake_telegram.wait_for("sendMessage", count=before + 1)
    callback_url = await allow_in_sandbox(button_url(calls[before].params), account_id)
    async with httpx.AsyncClient() as client:
        page = await client.get(callback_url)
    assert page.status_code == 200, page.text
    await fake_telegram.wait_for("sendMessage", count=before + 2)
    assert await app.services.storage.get_account_for_user(user_id) is not None
