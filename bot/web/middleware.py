"""Access log for the web server: one line per request, without the query string."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["access_log"]

logger = logging.getLogger("bot.web.access")


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
