"""Fixtures of the end-to-end tests.

- `telegram`: a started FakeTelegram with the demo users and group, in the test's loop.
- `launch_bot`: starts `python -m bot --sandbox` against it; every process is stopped at
  teardown.
- `gramlink`: one such process with the default settings.
- `http`: an httpx client for the bot's web server and the sandbox it serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.playground import FakeTelegram
from tests.e2e.support import BOT_TOKEN, BotProcess, clean_environment, free_port, kill_all

LaunchBot = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """Yield a fake Bot API on loopback that enforces Telegram's limits."""
    fake = FakeTelegram(BOT_TOKEN, enforce_limits=True)
    fake.add_demo_data()
    await fake.start(host="127.0.0.1", port=0)
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def launch_bot(tmp_path: Path, telegram: FakeTelegram) -> AsyncIterator[LaunchBot]:
    """Yield a function that starts the bot process and waits until /healthz returns 200.

    Keyword arguments are settings by their environment names; `port` and `database`
    reuse a port and a database file, as a restart does.
    """
    started: list[BotProcess] = []

    async def launch(
        *, port: int | None = None, database: Path | None = None, **settings: Any
    ) -> BotProcess:
        port = port or free_port()
        database = database or tmp_path / "gramlink.db"
        base_url = f"http://127.0.0.1:{port}"
        environment = clean_environment(
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_API_URL=telegram.api_url,
            HTTP_HOST="127.0.0.1",
            HTTP_PORT=str(port),
            PUBLIC_URL=base_url,
            DATABASE_URL=f"sqlite:///{database}",
            **{name: str(value) for name, value in settings.items()},
        )
        process = BotProcess(
            args=("--sandbox",),
            environment=environment,
            cwd=tmp_path,
            log_path=tmp_path / f"bot-{len(started) + 1}.log",
            base_url=base_url,
        )
        started.append(process)
        await process.start()
        return process

    try:
        yield launch
    finally:
        await kill_all(started)


@pytest.fixture
async def gramlink(launch_bot: LaunchBot) -> BotProcess:
    """Return a running bot process with the default settings."""
    return await launch_bot()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """Yield an httpx client that, like a script, follows no redirect by itself."""
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        yield client
