"""`GET /healthz`: whether the database and the scheduler are up."""

from __future__ import annotations

from aiohttp import web

from bot.web.context import WEB_CONTEXT
from storage import StorageError

__all__ = ["healthz"]


async def healthz(request: web.Request) -> web.Response:
    """Return the database and scheduler status as JSON; 503 when either is down."""
    context = request.app[WEB_CONTEXT]
    try:
        database_ok = await context.services.storage.ping()
    except StorageError:
        database_ok = False
    scheduler_ok = context.scheduler_running()

    body = {
        "status": "ok" if database_ok and scheduler_ok else "error",
        "database": "ok" if database_ok else "error",
        "scheduler": "ok" if scheduler_ok else "stopped",
    }
    return web.json_response(body, status=200 if database_ok and scheduler_ok else 503)
