"""The redaction filter masks tokens and secrets at every level."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import REDACTED, RedactingFilter, configure_logging, redact

BOT_TOKEN = "123456789:AAEfake_Token-value"
ACCESS_TOKEN = "IGQVJfakeAccessToken123"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(["extra-secret-value"]))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_debug_record_with_bot_url_and_access_token(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured

    logger.debug(
        "HTTP Request: %s %s",
        "GET",
        f"https://api.example.test/bot{BOT_TOKEN}/getMe?x=1 and "
        f"https://graph.example.test/me?fields=id&access_token={ACCESS_TOKEN}&y=2",
    )

    output = stream.getvalue()
    assert BOT_TOKEN not in output
    assert ACCESS_TOKEN not in output
    assert f"/bot{REDACTED}/getMe" in output
    assert f"access_token={REDACTED}&y=2" in output
    assert output.startswith("DEBUG ")


def test_traceback_is_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    try:
        raise RuntimeError(f"request to /file/bot{BOT_TOKEN}/photo.jpg failed")
    except RuntimeError:
        logger.exception("download failed")

    output = stream.getvalue()
    assert "Traceback" in output
    assert BOT_TOKEN not in output


def test_configured_secret_is_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    logger.warning("secret %s leaked", "extra-secret-value")

    assert stream.getvalue() == f"WARNING secret {REDACTED} leaked\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("code=AQBx_abc#_&state=s", f"code={REDACTED}&state=s"),
        ("client_secret=abc123", f"client_secret={REDACTED}"),
        ("error_code=190", "error_code=190"),
        ('{"access_token": "IGQ-1"}', f'{{"access_token": "{REDACTED}"}}'),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_mismatched_arguments_are_not_written_raw(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured

    logger.info("one placeholder %s %s", f"access_token={ACCESS_TOKEN}")

    assert ACCESS_TOKEN not in stream.getvalue()


def test_configure_logging_quiets_libraries() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("INFO", secrets=[BOT_TOKEN])
        assert logging.getLogger("httpx").level == logging.WARNING
        assert logging.getLogger("telegram").level == logging.WARNING
        assert root.level == logging.INFO

        configure_logging("DEBUG")
        assert logging.getLogger("httpx").level == logging.DEBUG
        assert len(root.handlers) == 1
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name in ("httpx", "httpcore", "telegram", "apscheduler", "aiohttp.access", "hpack"):
            logging.getLogger(name).setLevel(logging.NOTSET)
