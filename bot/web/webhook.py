"""`POST /telegram/webhook`: updates pushed by Telegram in webhook mode."""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from bot.web.context import WEB_CONTEXT

__all__ = ["SECRET_HEADER", "telegram_webhook"]

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def telegram_webhook(request: web.Request) -> web.Response:
    """Check the secret header and queue the update, which is processed after the response."""
    webhook = request.app[WEB_CONTEXT].webhook
    if webhook is None:
        raise web.HTTPNotFound

    received = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(received.encode(), webhook.secret.encode()):
        logger.warning("Rejected a webhook request with a missing or wrong secret header")
        raise web.HTTPForbidden

    try:
        update = json.loads(await request.read())
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="request body is not valid JSON") from None
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise web.HTTPBadRequest(text="request body is not a Telegram update")

    try:
        accepted = await webhook.deliver(update)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    if not accepted:
        # Telegram retries later, when the restarted bot responds again.
        raise web.HTTPServiceUnavailable(text="the bot is shutting down")
    return web.Response(status=200)
