"""Logging configuration for the process, with a filter that masks secrets in every record."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

__all__ = ["REDACTED", "RedactingFilter", "configure_logging", "redact"]

REDACTED = "<redacted>"

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries that log every request (with full URLs) or every update at INFO or DEBUG.
NOISY_LOGGERS = ("httpx", "httpcore", "telegram", "apscheduler", "aiohttp.access", "hpack")

# The Bot API puts the bot token in the URL path: /bot123456:AAE.../getMe, /file/bot.../path.
_BOT_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")
# OAuth codes, app secrets and access tokens travel as query or form values.
_SECRET_QUERY_VALUE = re.compile(
    r"(?<![A-Za-z0-9_])(access_token|client_secret|code|input_token|fb_exchange_token)"
    r"=[^&\s\"'<>]+"
)
# The same names as JSON keys, in case a response body ever reaches a log line.
_SECRET_JSON_VALUE = re.compile(r"(\"(?:access_token|client_secret)\"\s*:\s*\")[^\"]*(\")")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with bot tokens, secret query values and the given secrets masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BOT_TOKEN_IN_URL.sub("bot" + REDACTED, text)
    text = _SECRET_QUERY_VALUE.sub(lambda match: f"{match.group(1)}={REDACTED}", text)
    return _SECRET_JSON_VALUE.sub(lambda match: match.group(1) + REDACTED + match.group(2), text)


class RedactingFilter(logging.Filter):
    """Rewrite each record's final message, traceback and stack so no secret is written.

    Attach it to handlers rather than loggers: handler filters see records from every
    logger, including the third-party ones that log request URLs at DEBUG.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Sorted by length, longest first, so a secret that contains another is masked whole.
        self._secrets = tuple(sorted({secret for secret in secrets if secret}, key=len)[::-1])

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place and always let it through."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Logging would report the broken call with its raw arguments; show the template.
            message = f"{record.msg} (log arguments did not match the message)"
        record.msg = redact(message, self._secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Format the traceback now so the formatter reuses the masked text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


def configure_logging(level: str = "INFO", *, secrets: Iterable[str] = ()) -> None:
    """Send log records to standard error with timestamps and the redaction filter.

    Replaces any handler already on the root logger, so calling it again reconfigures.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter(secrets))

    root = logging.getLogger()
    for old_handler in root.handlers[:]:
        root.removeHandler(old_handler)
    root.addHandler(handler)
    root.setLevel(level)

    library_level = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
