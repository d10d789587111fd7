"""Command line: `python -m bot [--sandbox | --demo]`."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import configure_logging
from storage import StorageError

if TYPE_CHECKING:
    from bot.playground import FakeTelegram

logger = logging.getLogger("bot")

# Exit statuses. A configuration or database problem found at start-up, or a request that
# the Bot API rejects, exits with 2. A Bot API that cannot be reached, or another failure,
# exits with 1.
EXIT_CONFIG_ERROR = 2
EXIT_UNAVAILABLE = 1
EXIT_INTERRUPTED = 130

# Token of the fake Bot API that --demo starts; it is not a real bot's token.
DEMO_BOT_TOKEN = "123456:GRAMLINK-DEMO"
DEMO_HTTP_HOST = "127.0.0.1"
# The demo keeps its own database, so it never writes sandbox accounts into the bot's one.
DEMO_DATABASE_URL = "sqlite:///data/demo.db"
# Maximum length of the Bot API error description quoted in the one-line start-up error.
MAX_QUOTED_DESCRIPTION = 200


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command-line flags."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Gramlink: a Telegram bot that brings Instagram photos into Telegram. "
        "Settings come from the environment or a .env file in the working directory.",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="serve an embedded Instagram sandbox instead of calling Meta; "
        "only TELEGRAM_BOT_TOKEN is needed",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against a local fake Telegram with a web chat page and the Instagram "
        "sandbox; no setting is needed. The .env file is not read, updates come by long "
        "polling, and the database is sqlite:///data/demo.db unless DATABASE_URL is set in "
        "the environment",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bot until SIGINT or SIGTERM; return the process exit status."""
    args = parse_args(argv)
    # python-telegram-bot 22 gives durations such as RetryAfter.retry_after as timedelta
    # when this is set, and warns about the deprecated int form on every access otherwise.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    try:
        asyncio.run(_run(demo=args.demo, sandbox=args.sandbox or args.demo))
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    except StorageError as exc:
        return _fail(f"database error: {exc}; check DATABASE_URL and TOKEN_ENCRYPTION_KEY")
    except InvalidToken:
        return _fail(
            "configuration error: the Bot API rejected TELEGRAM_BOT_TOKEN; "
            "copy the token from @BotFather again"
        )
    except BadRequest as exc:
        # Caught before NetworkError, its base class in python-telegram-bot: the Bot API
        # was reached and rejected a request, so retrying with the same settings fails again.
        return _fail(_describe_rejection(exc))
    except RetryAfter as exc:
        return _fail(
            f"the Bot API limits requests ({exc}); start again after that wait",
            status=EXIT_UNAVAILABLE,
        )
    except NetworkError as exc:
        return _fail(
            f"cannot reach the Bot API ({exc}); check TELEGRAM_API_URL and the network",
            status=EXIT_UNAVAILABLE,
        )
    except TelegramError as exc:
        return _fail(_describe_rejection(exc))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception:
        # Logged rather than left to the interpreter, so the traceback passes the redaction
        # filter before it is written.
        logger.critical("Gramlink stopped after an unexpected error", exc_info=True)
        return EXIT_UNAVAILABLE
    return 0


async def _run(*, demo: bool, sandbox: bool) -> None:
    fake_telegram = await _start_fake_telegram() if demo else None
    try:
        settings = _load(sandbox=sandbox, fake_telegram=fake_telegram)
        configure_logging(settings.log_level, secrets=_secrets(settings))

        from bot.app import create_app

        bot_link_url = fake_telegram.page_url if fake_telegram is not None else None
        app = create_app(settings, sandbox=sandbox, bot_link_url=bot_link_url)
        on_started = None
        if fake_telegram is not None:
            on_started = functools.partial(_announce_demo, fake_telegram)
        await app.run_until_signal(on_started)
    finally:
        if fake_telegram is not None:
            await fake_telegram.stop()


async def _start_fake_telegram() -> FakeTelegram:
    from bot.playground import run_playground

    # The playground comes with demo users and a demo group, and enforces Bot API limits.
    return await run_playground(DEMO_BOT_TOKEN, host=DEMO_HTTP_HOST, port=0)


def _describe_rejection(exc: TelegramError) -> str:
    """Quote the Bot API's error description and name the setting that likely causes it."""
    description = " ".join(exc.message.split())[:MAX_QUOTED_DESCRIPTION]
    lowered = description.lower()
    if isinstance(exc, Conflict):
        hint = (
            "another process uses TELEGRAM_BOT_TOKEN, or a webhook is still set for it; "
            "stop the other process, or set TELEGRAM_WEBHOOK_SECRET for webhook mode"
        )
    elif isinstance(exc, EndPointNotFound) or "not found" in lowered:
        hint = "check TELEGRAM_API_URL: it must be the Bot API root, without /bot<token>"
    elif "secret" in lowered:
        hint = "check TELEGRAM_WEBHOOK_SECRET"
    elif "webhook" in lowered or "url" in lowered:
        hint = (
            "check PUBLIC_URL: webhook mode needs a public HTTPS address on port 443, 80, "
            "88 or 8443"
        )
    elif isinstance(exc, Forbidden):
        hint = "check TELEGRAM_BOT_TOKEN"
    else:
        hint = "check TELEGRAM_API_URL, TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET"
    return f'the Bot API rejected a start-up request: "{description}"; {hint}'


def _load(*, sandbox: bool, fake_telegram: FakeTelegram | None) -> Settings:
    overrides: dict[str, Any] = {"sandbox": True} if sandbox else {}
    if fake_telegram is None:
        return load_settings(**overrides)

    # The demo ignores .env, which may hold a production PUBLIC_URL, DATABASE_URL or
    # webhook secret, and always polls the fake Bot API.
    overrides.update(_env_file=None, telegram_webhook_secret=None)
    if not _environment_sets("DATABASE_URL"):
        overrides["database_url"] = DEMO_DATABASE_URL
    settings = load_settings(
        **overrides,
        telegram_bot_token=fake_telegram.token,
        telegram_api_url=fake_telegram.api_url,
    )
    # The demo stays on loopback unless the operator chose an address.
    demo_values: dict[str, Any] = {}
    if "http_host" not in settings.model_fields_set:
        demo_values["http_host"] = DEMO_HTTP_HOST
    port = settings.http_port
    if "public_url" not in settings.model_fields_set:
        # Without HTTP_PORT the demo takes a free port, so a bot already on 8080 does not
        # stop it.
        if port == 0 or "http_port" not in settings.model_fields_set:
            # NOTE: the port is found by binding and releasing it, so another process
            # could take it before the bot binds it again.
            port = _free_port(demo_values.get("http_host", settings.http_host))
            demo_values["http_port"] = port
        demo_values["public_url"] = f"http://127.0.0.1:{port}"
    return load_settings(
        **overrides,
        telegram_bot_token=fake_telegram.token,
        telegram_api_url=fake_telegram.api_url,
        **demo_values,
    )


def _environment_sets(name: str) -> bool:
    # Settings match environment variables without regard to case.
    return any(key.upper() == name for key in os.environ)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _announce_demo(fake_telegram: FakeTelegram) -> None:
    sys.stdout.write(f"Gramlink demo: open {fake_telegram.page_url} in a browser to chat.\n")
    sys.stdout.flush()
    logger.info("Demo web chat at %s", fake_telegram.page_url)


def _secrets(settings: Settings) -> list[str]:
    values = [settings.telegram_bot_token, settings.instagram_client_secret]
    values += [settings.telegram_webhook_secret, settings.token_encryption_key]
    secrets = [value.get_secret_value() for value in values if value is not None]
    # The part after the colon is the secret half of the bot token; mask it on its own too.
    secrets.append(settings.telegram_bot_token.get_secret_value().partition(":")[2])
    return secrets


def _fail(message: str, *, status: int = EXIT_CONFIG_ERROR) -> int:
    sys.stderr.write(f"gramlink: {message}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
