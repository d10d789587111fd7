"""The demo in a real browser: `python -m bot --demo` driven through headless Chromium.

Uses Debian's chromium at /usr/bin/chromium (scripts/ensure-chromium installs it) through
the Playwright package, never a browser that Playwright downloads. The test saves a
screenshot to tests/e2e/artifacts/playground.png; with UPDATE_DOCS_SCREENSHOT=1 it also
replaces docs/playground.png, the picture in the README.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.handlers import texts
from tests.e2e.support import (
    REPO_ROOT,
    BotProcess,
    clean_environment,
    free_port,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host name except loopback fails to resolve, so the browser reaches nothing else.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "playground.png"
DEMO_ANNOUNCEMENT = re.compile(r"Gramlink demo: open (http://127\.0\.0\.1:\d+/) in a browser")
STEP_TIMEOUT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing; run scripts/ensure-chromium to install Debian's chromium",
        allow_module_level=True,
    )
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is not installed"
)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[BotProcess, str]]:
    """Run `python -m bot --demo` and yield the process and the web chat's URL."""
    port = free_port()
    process = BotProcess(
        args=("--demo",),
        environment=clean_environment(
            HTTP_PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}"
        ),
        cwd=tmp_path,
        log_path=tmp_path / "demo.log",
        base_url=f"http://127.0.0.1:{port}",
    )
    try:
        await process.start()
        match = await wait_until(
            lambda: DEMO_ANNOUNCEMENT.search(process.log_text()),
            description="the demo to print the web chat URL",
        )
        yield process, match.group(1)
    finally:
        await process.ensure_stopped()


def is_loopback(url: str) -> bool:
    """Return whether a URL points at 127.0.0.1, or is not a network URL at all."""
    parts = urlsplit(url)
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname == "127.0.0.1"


OPEN_PRIVATE_CHAT = texts.OPEN_PRIVATE_CHAT_BUTTON


async def test_demo_connect_and_album_in_browser(
    demo: tuple[BotProcess, str], tmp_path: Path
) -> None:
    process, page_url = demo
    blocked: list[str] = []

    async def keep_on_loopback(route: playwright_api.Route) -> None:
        if is_loopback(route.request.url):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    async with playwright_api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 900},
        )
        page = context.pages[0] if context.pages else await context.new_page()
        try:
            context.set_default_timeout(STEP_TIMEOUT_MS)
            await context.route("**/*", keep_on_loopback)
            await page.goto(page_url)
            await page.locator("#chat-list button.active").wait_for()

            await page.fill("#text-input", "/connect")
            await page.press("#text-input", "Enter")
            connect_link = page.locator(".message .keyboard a", has_text="Connect Instagram")
            await connect_link.wait_for()

            async with context.expect_page() as new_tab:
                await connect_link.click()
            authorize = await new_tab.value
            await authorize.wait_for_load_state()
            assert "/sandbox/oauth/authorize" in authorize.url
            await authorize.get_by_role("button", name="Allow").click()
            await authorize.wait_for_url(re.compile(r"/oauth/callback\?"))
            heading = await authorize.locator("h1").inner_text()
            assert "Connected as @sandbox.demo" in heading
            back_link = authorize.get_by_role("link", name="Back to Telegram")
            assert await back_link.get_attribute("href") == page_url
            await authorize.close()

            await page.bring_to_front()
            await page.locator(".message", has_text="Connected as @sandbox.demo").wait_for()
            await page.fill("#text-input", "/media")
            await page.press("#text-input", "Enter")
            album_images = page.locator(".message .album img")
            await album_images.nth(1).wait_for()
            await page.locator(".message .keyboard button", has_text="Older").wait_for()
            # Every image is decoded and every video has its first frame.
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.album img')]"
                ".every((image) => image.complete && image.naturalWidth > 0)"
                " && [...document.querySelectorAll('video')]"
                ".every((video) => video.readyState >= 2)"
            )

            assert await album_images.count() >= 2
            # Start the picture at the /media command, so it shows the request and the albums.
            command = page.locator(".message.own", has_text="/media").last
            await command.evaluate("(node) => node.scrollIntoView({block: 'start'})")
            ARTIFACTS.mkdir(exist_ok=True)
            screenshot = ARTIFACTS / "playground.png"
            await page.screenshot(path=str(screenshot))
            if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
                DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(screenshot, DOCS_SCREENSHOT)

            # A t.me link to the bot stays in the playground: it opens the private chat and
            # sends the deep link's /start command, as a Telegram app does.
            await page.locator("#chat-list button", has_text="Gramlink demo group").click()
            await page.fill("#text-input", "/connect")
            await page.press("#text-input", "Enter")
            open_private = page.locator(".message .keyboard button", has_text=OPEN_PRIVATE_CHAT)
            await open_private.click()
            await page.locator(".message.own", has_text="/start connect").wait_for()
            title = await page.locator("#chat-title").inner_text()
            assert title.startswith("Private chat with @")
        except BaseException:
            # A picture of the page shows at which step the demo went wrong.
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "playground-failed.png"))
            raise
        finally:
            await context.close()

    assert blocked == []
    assert "Traceback" not in process.log_text()
