"""The sandbox aiohttp application: routes, fault injection and request counting."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from aiohttp import web

from bot.clock import Clock, utc_now
from bot.sandbox.control import ControlRequestError, add_control_routes
from bot.sandbox.graph import access_token_from_request, add_graph_routes
from bot.sandbox.keys import SANDBOX_STATE
from bot.sandbox.media import add_media_routes
from bot.sandbox.oauth import add_oauth_routes
from bot.sandbox.state import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    CodeExchangeError,
    GraphError,
    SandboxState,
)

__all__ = ["create_sandbox_app", "sandbox_urls"]

logger = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_SERVER_ERROR_HTML = (
    '<!DOCTYPE html><html lang="en"><head><title>Error</title></head>'
    "<body><p>Sorry, something went wrong. We're working on it.</p></body></html>"
)


def sandbox_urls(base_url: str) -> dict[str, str]:
    """Return the authorize, API and Graph base URLs of a sandbox mounted at /sandbox."""
    base = base_url.rstrip("/")
    return {
        "authorize_url": f"{base}/sandbox/oauth/authorize",
        "api_url": f"{base}/sandbox/api",
        "graph_url": f"{base}/sandbox/graph",
    }


def _endpoint_name(request: web.Request) -> str | None:
    """Return the counter name of the matched route, or None for control and unknown routes."""
    name = request.match_info.route.name
    if name is None or name.startswith("control."):
        return None
    # Versioned Graph routes share the counter of their unversioned twin.
    return name.partition(":")[0]


def _rate_limit_error(state: SandboxState, request: web.Request) -> GraphError:
    usage = {"call_count": 100, "total_cputime": 12, "total_time": 18}
    headers = {"X-App-Usage": json.dumps(usage)}
    token = access_token_from_request(request)
    record = state.token_record(token) if token else None
    if record is not None:
        business_usage = {
            record.account_id: [
                {"type": "instagram", **usage, "estimated_time_to_regain_access": 1}
            ]
        }
        headers["X-Business-Use-Case-Usage"] = json.dumps(business_usage)
    # NOTE: HTTP 400 for code 4 is a guess, and Meta also sends usage headers on successful
    # calls, which the sandbox does not. Clients should classify by error code.
    return GraphError(
        "(#4) Application request limit reached",
        code=4,
        headers=headers,
        is_transient=True,
    )


def _injected_fault(
    state: SandboxState, request: web.Request, endpoint: str
) -> web.Response | None:
    """Return the response of a pending injected fault for this call, if any."""
    is_graph = endpoint.startswith("graph.")
    if (is_graph or endpoint.startswith("api.")) and state.pending_failures > 0:
        state.pending_failures -= 1
        if state.failures_as_html:
            return web.Response(text=_SERVER_ERROR_HTML, status=500, content_type="text/html")
        error = GraphError(
            "An unexpected error has occurred. Please retry your request later.",
            code=2,
            status=500,
            is_transient=True,
        )
        return _graph_error_response(state, error)
    if is_graph and state.pending_rate_limits > 0:
        state.pending_rate_limits -= 1
        return _graph_error_response(state, _rate_limit_error(state, request))
    return None


def _graph_error_response(state: SandboxState, error: GraphError) -> web.Response:
    return web.json_response(
        error.body(state.next_trace_id()), status=error.status, headers=error.headers
    )


@web.middleware
async def _sandbox_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Count calls, apply injected faults and render sandbox errors in Meta's shapes."""
    state = request.app[SANDBOX_STATE]
    endpoint = _endpoint_name(request)
    if endpoint is not None:
        state.request_counts[endpoint] += 1
        fault = _injected_fault(state, request, endpoint)
        if fault is not None:
            return fault

    try:
        return await handler(request)
    except GraphError as error:
        logger.debug("Sandbox Graph error on %s: code %s", endpoint, error.code)
        return _graph_error_response(state, error)
    except CodeExchangeError as error:
        logger.debug("Sandbox code exchange rejected: %s", error.message)
        body = {"error_type": "OAuthException", "code": 400, "error_message": error.message}
        return web.json_response(body, status=400)
    except ControlRequestError as error:
        logger.debug("Sandbox control request %s rejected: %s", request.path, error)
        return web.json_response({"error": str(error)}, status=400)


def create_sandbox_app(
    *,
    public_url: str,
    client_id: str = SANDBOX_CLIENT_ID,
    client_secret: str = SANDBOX_CLIENT_SECRET,
    clock: Clock = utc_now,
    media_url_ttl: timedelta = timedelta(hours=1),
    redirect_uris: Sequence[str] | None = None,
) -> web.Application:
    """Build the sandbox app, to be mounted with `app.add_subapp("/sandbox", ...)`.

    `public_url` is the externally visible base of the server (without /sandbox); media,
    paging and permalink URLs start with it. `redirect_uris` defaults to
    `{public_url}/oauth/callback`.
    """
    state = SandboxState(
        public_url=public_url,
        client_id=client_id,
        client_secret=client_secret,
        clock=clock,
        media_url_ttl=media_url_ttl,
        redirect_uris=redirect_uris,
    )
    app = web.Application(middlewares=[_sandbox_middleware])
    app[SANDBOX_STATE] = state
    add_oauth_routes(app.router)
    add_graph_routes(app.router)
    add_media_routes(app.router)
    add_control_routes(app.router)
    return app
