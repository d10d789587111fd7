"""Middlewares and logging of the web server: access log and request size limits."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from bot.web.pages import render_page

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_REQUEST_TARGET_BYTES",
    "PARSER_MAX_FIELD_BYTES",
    "PARSER_MAX_LINE_BYTES",
    "access_log",
    "request_limits",
    "server_logger",
]

logger = logging.getLogger("bot.web.access")

# Maximum length of the path with query string, and of one header (name and value), that
# reaches a handler. Longer ones get our own short page, which repeats nothing of the request.
MAX_REQUEST_TARGET_BYTES = 8 * 1024
MAX_HEADER_BYTES = 8 * 1024
# aiohttp's HTTP parser rejects lines over its limits before any middleware runs, so its
# limits are set above ours and `request_limits` rejects the lines in between.
# NOTE: aiohttp 3.14 rejects a request line over PARSER_MAX_LINE_BYTES, or a header over
# PARSER_MAX_FIELD_BYTES, with its own 400 page, which quotes the first 100 bytes of the line.
PARSER_MAX_LINE_BYTES = 64 * 1024
PARSER_MAX_FIELD_BYTES = 16 * 1024


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log method, route, status and duration; query strings carry OAuth codes and states."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        status = exc.status
        raise
    else:
        status = response.status
        return response
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info("%s %s %d %.1fms", request.method, _route(request), status, elapsed_ms)


def _route(request: web.Request) -> str:
    # The route template (/deletion/{code}) keeps confirmation codes out of the log.
    resource = request.match_info.route.resource
    if resource is not None:
        return resource.canonical
    return request.path


@web.middleware
async def request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reject an over-long address with 414 and an over-long header with 431."""
    if len(request.raw_path.encode()) > MAX_REQUEST_TARGET_BYTES:
        return render_page(
            "Address too long",
            [
                f"This server accepts addresses of up to {MAX_REQUEST_TARGET_BYTES} bytes. "
                "If a sign-in link brought you here, go back to Telegram and send /connect "
                "to get a new one."
            ],
            status=414,
        )
    for name, value in request.raw_headers:
        if len(name) + len(value) > MAX_HEADER_BYTES:
            return render_page(
                "Request headers too large",
                [f"This server accepts request headers of up to {MAX_HEADER_BYTES} bytes each."],
                status=431,
            )
    return await handler(request)


class _HideRejectedInput(logging.Filter):
    """Log a request that aiohttp's parser rejected without the exception's message.

    aiohttp logs such a request with a traceback whose message quotes the start of the
    offending line, which for /oauth/callback contains the authorization code.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.msg = "Rejected a malformed HTTP request from %s: %s, status %s"
            record.args = (remote, type(error).__name__, error.code)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


# Logger that aiohttp's request handler writes its own errors to, with the filter above.
server_logger = logging.getLogger("bot.web.server")
server_logger.addFilter(_HideRejectedInput())
