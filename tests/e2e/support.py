"""Helpers of the end-to-end tests: the bot process, a browser-like OAuth walk, chat views.

The bot runs as `python -m bot --sandbox` in a subprocess, against a FakeTelegram served in
the test's own event loop, so a test can act as Telegram users and read what the bot sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urldefrag, urljoin

import httpx

from bot.playground import FakeTelegram, RecordedCall

REPO_ROOT = Path(__file__).resolve().parents[2]

# Token of the fake Bot API; shaped like a real one so that settings validation accepts it.
BOT_TOKEN = "123456:E2E-fake_bot_token_value"

DEMO_USERNAME = "sandbox.demo"
DEMO_INSTAGRAM_ID = "17841400000000001"

# Access tokens that the sandbox issues start with IGAA (Instagram Login) or IGQV (Basic
# Display); authorization codes start with AQ.
ACCESS_TOKEN_PATTERN = re.compile(r"IG(?:AA|QV)[A-Za-z0-9_-]{16,}")

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# The bot promises to stop cleanly within a few seconds of SIGTERM.
CLEAN_STOP_SECONDS = 5.0
REPLY_TIMEOUT = 15.0

_T = TypeVar("_T")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    # NOTE: the port is released before the bot binds it, so another process could take it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_environment(**settings: str) -> dict[str, str]:
    """Return an environment with only PATH, locale, PYTHONPATH and the given settings.

    PYTHONPATH names this checkout, so the subprocess imports the code under test even
    though its working directory is a temporary folder.
    """
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    environment.update(settings)
    return environment


@dataclass
class BotProcess:
    """`python -m bot` run as a subprocess with its output captured in `log_path`."""

    args: tuple[str, ...]
    environment: dict[str, str]
    cwd: Path
    log_path: Path
    base_url: str
    process: asyncio.subprocess.Process | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    async def start(self, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        """Start the process and wait until GET /healthz returns 200."""
        if self.process is not None and self.process.returncode is None:
            raise RuntimeError("the bot process is already running")
        self._log_file = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *self.args,
            cwd=self.cwd,
            env=self.environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
        await self._wait_healthy(timeout)

    async def _wait_healthy(self, timeout: float) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        last_problem = "no answer yet"
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(
                        f"the bot exited with status {self.process.returncode} during start-up; "
                        f"log:\n{self.log_text()}"
                    )
                try:
                    response = await client.get(f"{self.base_url}/healthz")
                except httpx.TransportError as exc:
                    last_problem = repr(exc)
                else:
                    if response.status_code == 200:
                        return
                    last_problem = f"HTTP {response.status_code}: {response.text}"
                await asyncio.sleep(0.1)
        raise AssertionError(
            f"/healthz did not answer 200 within {timeout} s ({last_problem}); "
            f"log:\n{self.log_text()}"
        )

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> tuple[int, float]:
        """Send SIGTERM and wait for the exit; return the exit status and the seconds taken.

        A process still running after STOP_TIMEOUT seconds is killed and reported with
        status -9.
        """
        if self.process is None:
            raise RuntimeError("the bot process was never started")
        started = time.monotonic()
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        elapsed = time.monotonic() - started
        self._close_log()
        returncode = self.process.returncode
        assert returncode is not None
        return returncode, elapsed

    async def ensure_stopped(self) -> None:
        """Stop the process if it still runs; for fixture teardown."""
        if self.running:
            await self.stop()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_text(self) -> str:
        """Return everything the process wrote to stdout and stderr so far."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def leaked_secrets(log_text: str, secrets: Iterable[str]) -> list[str]:
    """Return the descriptions of the secrets, and of token-shaped strings, found in a log."""
    found = [f"secret {secret[:6]}…" for secret in secrets if secret and secret in log_text]
    found += [f"access token {match[:8]}…" for match in ACCESS_TOKEN_PATTERN.findall(log_text)]
    return found


async def wait_until(
    condition: Callable[[], _T | None],
    *,
    timeout: float = REPLY_TIMEOUT,  # noqa: ASYNC109
    description: str,
) -> _T:
    """Poll `condition` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {description}")
        await asyncio.sleep(0.02)


async def wait_until_async(
    check: Callable[[], Awaitable[_T | None]],
    *,
    timeout: float = REPLY_TIMEOUT,  # noqa: ASYNC109
    description: str,
) -> _T:
    """Await `check` every 0.1 s until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {description}")
        await asyncio.sleep(0.1)


# Chats as a Telegram user sees them


def bot_messages(telegram: FakeTelegram, chat_id: int, *, after: int = 0) -> list[dict[str, Any]]:
    """Return the bot's messages in a chat that are not deleted, oldest first.

    Edited messages appear in their latest form. `after` skips message ids up to it.
    """
    chat = telegram.state.chats.get(chat_id)
    if chat is None:
        return []
    bot_id = telegram.bot_user["id"]
    return [
        entry.message
        for message_id, entry in sorted(chat.history.items())
        if message_id > after
        and not entry.deleted
        and entry.message.get("from", {}).get("id") == bot_id
    ]


def last_message_id(telegram: FakeTelegram, chat_id: int) -> int:
    """Return the id of the newest message in a chat, or 0 when it has none."""
    chat = telegram.state.chats.get(chat_id)
    if chat is None or not chat.history:
        return 0
    return max(chat.history)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the inline keyboard buttons of a message, row by row."""
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def url_button(message: dict[str, Any]) -> str | None:
    """Return the URL of the message's first URL button, or None."""
    for button in buttons(message):
        if "url" in button:
            return str(button["url"])
    return None


def callback_button(message: dict[str, Any], label: str) -> str | None:
    """Return the callback data of the first button whose text contains `label`."""
    for button in buttons(message):
        if "callback_data" in button and label.lower() in button["text"].lower():
            return str(button["callback_data"])
    return None


def is_media(message: dict[str, Any]) -> bool:
    """Return whether a message is a photo or a video."""
    return "photo" in message or "video" in message


# Labels of the /media paging buttons, matched case-insensitively inside the button text.
OLDER = "older"
NEWER = "newer"


def newest_control(telegram: FakeTelegram, chat_id: int) -> dict[str, Any] | None:
    """Return the newest bot message in a chat with an Older or Newer button, or None."""
    for message in reversed(bot_messages(telegram, chat_id)):
        if callback_button(message, OLDER) or callback_button(message, NEWER):
            return message
    return None


def control_snapshot(message: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """Return what identifies a control message's state: its id, text and buttons."""
    if message is None:
        return None
    keys = tuple((button["text"], button.get("callback_data")) for button in buttons(message))
    return message["message_id"], message.get("text"), keys


async def wait_for_new_control(
    telegram: FakeTelegram, chat_id: int, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Wait until the newest control message differs from `previous` (sent anew or edited)."""
    before = control_snapshot(previous)

    def changed() -> dict[str, Any] | None:
        message = newest_control(telegram, chat_id)
        return message if control_snapshot(message) != before else None

    try:
        return await wait_until(changed, description=f"a new /media control message in {chat_id}")
    except AssertionError as exc:
        recent = [message.get("text") for message in bot_messages(telegram, chat_id)[-3:]]
        raise AssertionError(f"{exc}; the bot's last texts in the chat: {recent}") from None


def sent_media_captions(calls: Iterable[RecordedCall]) -> list[str]:
    """Return the captions of the photos, videos and album items that the bot sent."""
    captions: list[str] = []
    for call in calls:
        if not call.ok:
            continue
        if call.method == "sendMediaGroup":
            captions += [item.get("caption") or "" for item in call.params["media"]]
        elif call.method in ("sendPhoto", "sendVideo"):
            captions.append(call.params.get("caption") or "")
    return captions


async def send_and_wait_reply(
    telegram: FakeTelegram,
    user_id: int,
    text: str,
    *,
    chat_id: int | None = None,
    chat_type: str = "private",
) -> dict[str, Any]:
    """Send a message as a user and return the bot's first new message in that chat."""
    target = user_id if chat_id is None else chat_id
    mark = last_message_id(telegram, target)
    telegram.send_message(user_id, text, chat_id=chat_id, chat_type=chat_type)
    replies = await wait_until(
        lambda: bot_messages(telegram, target, after=mark),
        description=f"a reply to {text!r} in chat {target}",
    )
    return replies[0]


async def press(
    telegram: FakeTelegram, user_id: int, message: dict[str, Any], callback_data: str
) -> dict[str, Any]:
    """Press a callback button as a user and return the bot's answerCallbackQuery parameters."""
    chat_id = message["chat"]["id"]
    update = telegram.press_button(user_id, message["message_id"], callback_data, chat_id=chat_id)
    pending = telegram.callback_queries[update["callback_query"]["id"]]
    try:
        return await asyncio.wait_for(asyncio.shield(pending.answer), REPLY_TIMEOUT)
    except TimeoutError:
        raise AssertionError(
            f"the bot did not answer the button {callback_data!r} within {REPLY_TIMEOUT} s"
        ) from None


async def inline_answer(telegram: FakeTelegram, user_id: int, query: str) -> dict[str, Any]:
    """Send an inline query as a user and return the bot's answerInlineQuery parameters."""
    update = telegram.inline_query(user_id, query)
    pending = telegram.inline_queries[update["inline_query"]["id"]]
    try:
        return await asyncio.wait_for(asyncio.shield(pending.answer), REPLY_TIMEOUT)
    except TimeoutError:
        raise AssertionError(
            f"the bot did not answer the inline query {query!r} within {REPLY_TIMEOUT} s"
        ) from None


# The Instagram authorization window, as a browser drives it


class _FormReader(HTMLParser):
    """Collect the inputs of the first form of a page and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str]] = []
        self.buttons: list[dict[str, str]] = []
        self.text: list[str] = []
        self._forms_seen = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._forms_seen += 1
        if self._forms_seen != 1:
            return
        if tag == "input":
            self.fields.append(attributes)
        elif tag == "button":
            self.buttons.append(attributes)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def page_text(html: str) -> str:
    """Return the visible text of an HTML page with whitespace collapsed."""
    reader = _FormReader()
    reader.feed(html)
    return " ".join(" ".join(reader.text).split())


def authorize_form(html: str, *, decision: str, account_id: str | None = None) -> dict[str, str]:
    """Return the form fields a browser posts when the user picks an account and a button.

    Without `account_id` the radio button checked by default is sent, as a browser does.
    """
    reader = _FormReader()
    reader.feed(html)
    form: dict[str, str] = {}
    for attributes in reader.fields:
        name = attributes.get("name")
        if not name:
            continue
        if attributes.get("type") == "radio":
            chosen = (
                attributes.get("value") == account_id
                if account_id is not None
                else "checked" in attributes
            )
            if chosen:
                form[name] = attributes.get("value", "")
            continue
        form[name] = attributes.get("value", "")
    decisions = [button for button in reader.buttons if button.get("value") == decision]
    if not decisions:
        raise AssertionError(f"the authorize page has no {decision!r} button")
    form[decisions[0]["name"]] = decision
    return form


@dataclass(frozen=True)
class AuthorizeOutcome:
    """The responses a browser sees from the authorize page to the OAuth callback."""

    page: httpx.Response
    redirect_location: str
    callback: httpx.Response


async def walk_authorization(
    client: httpx.AsyncClient, authorize_url: str, *, decision: str = "allow"
) -> AuthorizeOutcome:
    """Open the authorize page, press Allow or Deny and follow the redirect to the callback.

    The redirect carries a `#_` fragment; browsers never send a fragment to the server,
    so it is dropped before the callback is requested.
    """
    page = await client.get(authorize_url)
    assert page.status_code == 200, page.text
    form = authorize_form(page.text, decision=decision)
    # The form has no action attribute, so the browser posts it to the page's own URL.
    submitted = await client.post(authorize_url, data=form)
    assert submitted.status_code == 302, submitted.text
    location = urljoin(authorize_url, submitted.headers["location"])
    callback_url, _fragment = urldefrag(location)
    callback = await client.get(callback_url)
    return AuthorizeOutcome(page=page, redirect_location=location, callback=callback)


async def kill_all(processes: Iterable[BotProcess]) -> None:
    """Stop every process that still runs; for fixture teardown."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            await process.ensure_stopped()


async def connect_account(
    telegram: FakeTelegram, client: httpx.AsyncClient, user_id: int
) -> tuple[AuthorizeOutcome, dict[str, Any]]:
    """Connect the demo Instagram account for a user: /connect, Allow, callback.

    Returns what the browser saw and the bot's confirmation message.
    """
    prompt = await send_and_wait_reply(telegram, user_id, "/connect")
    authorize_url = url_button(prompt)
    assert authorize_url is not None, f"/connect sent no URL button: {prompt}"

    mark = last_message_id(telegram, user_id)
    outcome = await walk_authorization(client, authorize_url, decision="allow")
    assert outcome.callback.status_code == 200, outcome.callback.text
    confirmations = await wait_until(
        lambda: bot_messages(telegram, user_id, after=mark),
        description="the message that confirms the connection",
    )
    return outcome, confirmations[0]
