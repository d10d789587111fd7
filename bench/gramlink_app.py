"""Settings, a running in-process Gramlink bot pointed at loopback fakes only, and a
throwaway database."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bot.app import GramlinkApp, create_app
from bot.config import Settings
from storage import Storage, open_storage

__all__ = [
    "BENCH_CLIENT_ID",
    "BENCH_CLIENT_SECRET",
    "bench_settings",
    "free_port",
    "running_bot",
    "temporary_storage",
]

BENCH_CLIENT_ID = "1000000000000001"
BENCH_CLIENT_SECRET = "bench-app-secret"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def bench_environment(
    *,
    telegram_api_url: str,
    instagram_url: str,
    database_path: Path,
    token: str,
    encryption_key: str | None = None,
    webhook_secret: str | None = None,
    http_port: int | None = None,
) -> dict[str, str]:
    """Return the environment variables of a bot that reaches only the given loopback URLs."""
    port = free_port() if http_port is None else http_port
    environment = {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": telegram_api_url,
        "INSTAGRAM_CLIENT_ID": BENCH_CLIENT_ID,
        "INSTAGRAM_CLIENT_SECRET": BENCH_CLIENT_SECRET,
        "INSTAGRAM_AUTHORIZE_URL": f"{instagram_url}/oauth/authorize",
        "INSTAGRAM_API_URL": instagram_url,
        "INSTAGRAM_GRAPH_URL": instagram_url,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{database_path}",
        "TOKEN_ENCRYPTION_KEY": encryption_key or Fernet.generate_key().decode(),
        "LOG_LEVEL": "WARNING",
    }
    if webhook_secret is not None:
        environment["TELEGRAM_WEBHOOK_SECRET"] = webhook_secret
    return environment


def bench_settings(**options: Any) -> Settings:
    """Build Settings whose `bench_environment(**options)` values override the environment."""
    values: dict[str, Any] = {
        name.lower(): value for name, value in bench_environment(**options).items()
    }
    # pydantic-settings gives explicit values priority over environment variables and .env;
    # settings not named here still come from them.
    return Settings(**values)


@asynccontextmanager
async def running_bot(**options: Any) -> AsyncIterator[GramlinkApp]:
    """Start the whole bot (`create_app` with `bench_settings(**options)`) and stop it after."""
    app = create_app(bench_settings(**options))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@asynccontextmanager
async def temporary_storage(filename: str) -> AsyncIterator[Storage]:
    """Open a migrated SQLite database in a temporary directory, and close it before the
    directory is removed."""
    with tempfile.TemporaryDirectory(prefix="gramlink-bench-") as directory:
        storage = await open_storage(
            f"sqlite:///{Path(directory) / filename}",
            encryption_key=Fernet.generate_key().decode(),
        )
        try:
            yield storage
        finally:
            await storage.close()
