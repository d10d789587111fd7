"""The aiohttp web server: OAuth callback, Meta callbacks, deletion status, health, webhook."""

from __future__ import annotations

from aiohttp import web

from bot.web.context import WEB_CONTEXT, WebContext, WebhookTarget
from bot.web.health import healthz
from bot.web.meta import (
    DELETION_TASKS,
    data_deletion,
    deauthorize,
    deletion_status,
    wait_for_deletions,
)
from bot.web.middleware import (
    PARSER_MAX_FIELD_BYTES,
    PARSER_MAX_LINE_BYTES,
    access_log,
    request_limits,
    server_logger,
)
from bot.web.oauth import oauth_callback
from bot.web.webhook import SECRET_HEADER, telegram_webhook

__all__ = [
    "MAX_REQUEST_BODY_BYTES",
    "SECRET_HEADER",
    "WebContext",
    "WebhookTarget",
    "create_web_app",
]

# Meta's callbacks and Telegram updates are a few kilobytes; larger bodies get a 413.
MAX_REQUEST_BODY_BYTES = 64 * 1024


def create_web_app(
    context: WebContext, *, sandbox_app: web.Application | None = None
) -> web.Application:
    """Build the web application; `sandbox_app` is mounted under `/sandbox` when given."""
    app = web.Application(
        client_max_size=MAX_REQUEST_BODY_BYTES,
        middlewares=[access_log, request_limits],
        # Passed by aiohttp to the request handler of every connection that serves this app.
        handler_args={
            "max_line_size": PARSER_MAX_LINE_BYTES,
            "max_field_size": PARSER_MAX_FIELD_BYTES,
            "logger": server_logger,
        },
    )
    app[WEB_CONTEXT] = context
    app[DELETION_TASKS] = set()
    app.on_shutdown.append(wait_for_deletions)

    app.router.add_get("/oauth/callback", oauth_callback)
    app.router.add_post("/instagram/deauthorize", deauthorize)
    app.router.add_post("/instagram/data-deletion", data_deletion)
    app.router.add_get("/deletion/{code}", deletion_status)
    app.router.add_get("/healthz", healthz)
    if context.webhook is not None:
        app.router.add_post("/telegram/webhook", telegram_webhook)
    if sandbox_app is not None:
        app.add_subapp("/sandbox", sandbox_app)
    return app
