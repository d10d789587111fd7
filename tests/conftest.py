"""Fixtures shared by every test package.

- `timedelta_retry_after` (autouse): sets PTB_TIMEDELTA=1 in every test, even where the
  shell sets it to false.
- `encryption_key`: a fresh Fernet key.
- `storage`: a migrated in-memory database.
- `make_settings`: builds `Settings` with test values and no `.env` file.
- `fake_telegram`: a started `FakeTelegram` Bot API server on loopback.
- `sandbox_server`: the Instagram sandbox mounted under `/sandbox` on a loopback server.
- `sandbox_settings`: settings whose Instagram URLs point at `sandbox_server`.
- `app_settings`: builds settings for a whole app in sandbox mode against `fake_telegram`.
- `running_app`: a started `GramlinkApp` built from `app_settings()`.

`app_helpers.py` walks the connect flow through a running app.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from bot.config import Settings
from storage import Storage, open_storage

if TYPE_CHECKING:
    from bot.app import GramlinkApp
    from bot.playground import FakeTelegram
    from bot.sandbox import SandboxState

# The bot process sets this too (bot/__main__.py): python-telegram-bot 22 then gives
# durations as timedelta instead of warning about the deprecated int form, and warnings are
# errors in this suite.
os.environ.setdefault("PTB_TIMEDELTA", "true")

TEST_BOT_TOKEN = "123456:TEST-token_value"
TEST_CLIENT_ID = "test-app-id"
TEST_CLIENT_SECRET = "test-app-secret"


@pytest.fixture(autouse=True)
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on every RetryAfter unless it may use timedelta, and warnings are errors.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def encryption_key() -> str:
    """Return a fresh Fernet key."""
    return Fernet.generate_key().decode()


@pytest.fixture
async def storage(encryption_key: str) -> AsyncIterator[Storage]:
    """Yield a migrated in-memory database, closed after the test."""
    opened = await open_storage("sqlite:///:memory:", encryption_key=encryption_key)
    yield opened
    await opened.close()


@pytest.fixture
def make_settings(encryption_key: str) -> Callable[..., Settings]:
    """Return a factory of Settings: loopback addresses, an in-memory database, fake keys.

    Keyword arguments override the defaults; `.env` files are never read.
    """

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TEST_BOT_TOKEN,
            "telegram_api_url": "http://127.0.0.1:9",
            "instagram_client_id": TEST_CLIENT_ID,
            "instagram_client_secret": TEST_CLIENT_SECRET,
            "public_url": "http://127.0.0.1:8080",
            "http_host": "127.0.0.1",
            "http_port": 0,
            "database_url": "sqlite:///:memory:",
            "token_encryption_key": encryption_key,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """Yield a started fake Bot API server with the default test token."""
    from bot.playground import FakeTelegram

    fake = FakeTelegram(TEST_BOT_TOKEN)
    await fake.start(host="127.0.0.1", port=0)
    yield fake
    await fake.stop()


@dataclass(frozen=True)
class SandboxServer:
    """A running Instagram sandbox; `base_url` is the server root, without `/sandbox`."""

    base_url: str
    state: SandboxState
    urls: dict[str, str]

    @property
    def redirect_uri(self) -> str:
        """The redirect URI the sandbox accepts: `{base_url}/oauth/callback`."""
        return f"{self.base_url}/oauth/callback"


@pytest.fixture
async def sandbox_server(unused_tcp_port: int) -> AsyncIterator[SandboxServer]:
    """Yield the sandbox served on 127.0.0.1, accepting `{base_url}/oauth/callback`."""
    from bot.sandbox import SANDBOX_STATE, create_sandbox_app, sandbox_urls

    base_url = f"http://127.0.0.1:{unused_tcp_port}"
    root = web.Application()
    sandbox_app = create_sandbox_app(public_url=base_url)
    root.add_subapp("/sandbox", sandbox_app)
    server = TestServer(root, host="127.0.0.1", port=unused_tcp_port)
    await server.start_server()
    yield SandboxServer(
        base_url=base_url, state=sandbox_app[SANDBOX_STATE], urls=sandbox_urls(base_url)
    )
    await server.close()


@pytest.fixture
def sandbox_settings(
    make_settings: Callable[..., Settings], sandbox_server: SandboxServer
) -> Settings:
    """Settings whose Instagram URLs and app credentials point at `sandbox_server`."""
    from bot.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

    return make_settings(
        instagram_client_id=SANDBOX_CLIENT_ID,
        instagram_client_secret=SANDBOX_CLIENT_SECRET,
        instagram_authorize_url=sandbox_server.urls["authorize_url"],
        instagram_api_url=sandbox_server.urls["api_url"],
        instagram_graph_url=sandbox_server.urls["graph_url"],
        public_url=sandbox_server.base_url,
    )


@pytest.fixture
def app_settings(
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    unused_tcp_port: int,
    tmp_path: Path,
) -> Callable[..., Settings]:
    """Return a factory of settings for a sandbox-mode app.

    The app talks to `fake_telegram`, listens on a free loopback port that is also its
    PUBLIC_URL, and keeps its database in `tmp_path / "gramlink.db"`.
    """

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": fake_telegram.token,
            "telegram_api_url": fake_telegram.api_url,
            "public_url": f"http://127.0.0.1:{unused_tcp_port}",
            "http_port": unused_tcp_port,
            "database_url": f"sqlite:///{tmp_path / 'gramlink.db'}",
            "sandbox": True,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture
async def running_app(app_settings: Callable[..., Settings]) -> AsyncIterator[GramlinkApp]:
    """Yield a started app in sandbox mode; it is stopped after the test."""
    from bot.app import create_app

    app = create_app(app_settings())
    await app.start()
    yield app
    await app.stop()
