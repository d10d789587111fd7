"""JSON control API that tests and demos use to change what the sandbox does."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.sandbox.content import SandboxAccount, SandboxMediaType
from bot.sandbox.keys import SANDBOX_STATE
from bot.sandbox.state import SandboxState

__all__ = ["ControlRequestError", "add_control_routes"]


class ControlRequestError(Exception):
    """An invalid control request, which the middleware returns as HTTP 400 with the message."""


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise ControlRequestError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlRequestError("the request body must be a JSON object")
    return body


def _integer(body: dict[str, Any], name: str, *, default: int | None = None) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlRequestError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ControlRequestError(f"{name} must not be negative, got {value}")
    return value


def _account(state: SandboxState, body: dict[str, Any]) -> SandboxAccount:
    """Look up the account that `body["account"]` names by user id or username."""
    account = state.account(str(body.get("account", "")))
    if account is None:
        raise ControlRequestError("account must be a sandbox user id or username")
    return account


def _media_type(value: Any, name: str) -> SandboxMediaType:
    try:
        return SandboxMediaType(value)
    except ValueError:
        choices = ", ".join(member.value for member in SandboxMediaType)
        raise ControlRequestError(f"{name} must be one of {choices}, got {value!r}") from None


async def add_post(request: web.Request) -> web.Response:
    """Publish a new post on an account: {"account", "media_type", "caption", "children"}."""
    state = request.app[SANDBOX_STATE]
    body = await _json_body(request)
    account = _account(state, body)
    media_type = _media_type(body.get("media_type", "IMAGE"), "media_type")
    caption = body.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise ControlRequestError("caption must be a string or null")
    raw_children = body.get("children", [])
    if not isinstance(raw_children, list):
        raise ControlRequestError("children must be a list of media types")
    child_types = tuple(_media_type(child, "each child") for child in raw_children)
    has_media_url = body.get("has_media_url", True)
    if not isinstance(has_media_url, bool):
        raise ControlRequestError("has_media_url must be true or false")

    try:
        post = state.add_post(
            account.id,
            media_type,
            caption=caption,
            child_types=child_types,
            has_media_url=has_media_url,
        )
    except ValueError as exc:
        raise ControlRequestError(str(exc)) from exc
    return web.json_response(
        {
            "id": post.id,
            "account": account.id,
            "children": [child.id for child in post.children],
            "timestamp": post.timestamp.isoformat(),
        },
        status=201,
    )


async def revoke(request: web.Request) -> web.Response:
    """Invalidate every token of an account, so Graph calls fail with code 190."""
    state = request.app[SANDBOX_STATE]
    body = await _json_body(request)
    account = _account(state, body)
    return web.json_response({"account": account.id, "revoked": state.revoke(account.id)})


async def rate_limit(request: web.Request) -> web.Response:
    """Make the next `count` Graph calls fail with code 4."""
    state = request.app[SANDBOX_STATE]
    count = _integer(await _json_body(request), "count", default=1)
    state.rate_limit(count)
    return web.json_response({"pending": state.pending_rate_limits})


async def fail(request: web.Request) -> web.Response:
    """Make the next `count` token and Graph calls fail with HTTP 500, as HTML if `html`."""
    state = request.app[SANDBOX_STATE]
    body = await _json_body(request)
    count = _integer(body, "count", default=1)
    html = body.get("html", False)
    if not isinstance(html, bool):
        raise ControlRequestError("html must be true or false")
    state.fail(count, html=html)
    return web.json_response({"pending": state.pending_failures, "html": html})


async def advance(request: web.Request) -> web.Response:
    """Move the sandbox clock forward by `seconds`."""
    state = request.app[SANDBOX_STATE]
    body = await _json_body(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ControlRequestError(f"seconds must be a non-negative number, got {seconds!r}")
    return web.json_response({"now": state.advance(seconds).isoformat()})


async def request_counts(request: web.Request) -> web.Response:
    """Return how many requests each sandbox endpoint received."""
    counts = request.app[SANDBOX_STATE].request_counts
    return web.json_response({"counts": dict(sorted(counts.items())), "total": counts.total()})


async def reset_request_counts(request: web.Request) -> web.Response:
    """Set every request counter back to zero."""
    request.app[SANDBOX_STATE].reset_request_counts()
    return web.json_response({"counts": {}, "total": 0})


async def signed_request(request: web.Request) -> web.Response:
    """Return a `signed_request` for a user id, as Meta's callbacks send it."""
    state = request.app[SANDBOX_STATE]
    body = await _json_body(request)
    user_id = body.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        raise ControlRequestError("user_id must be a non-empty string or an integer")
    issued_at = body.get("issued_at")
    if issued_at is not None:
        issued_at = _integer(body, "issued_at")
    raw = state.signed_request(str(user_id), issued_at=issued_at)
    return web.json_response({"signed_request": raw, "user_id": str(user_id)})


async def list_accounts(request: web.Request) -> web.Response:
    """List the sandbox accounts with their ids, usernames and post counts."""
    state = request.app[SANDBOX_STATE]
    accounts = [
        {
            "user_id": account.id,
            "username": account.username,
            "account_type": account.account_type_basic,
            "media_count": len(account.posts),
        }
        for account in state.accounts
    ]
    return web.json_response({"accounts": accounts, "now": state.now().isoformat()})


def add_control_routes(router: web.UrlDispatcher) -> None:
    """Register the control API under /control."""
    router.add_get("/control/accounts", list_accounts, name="control.accounts")
    router.add_post("/control/posts", add_post, name="control.posts")
    router.add_post("/control/revoke", revoke, name="control.revoke")
    router.add_post("/control/rate-limit", rate_limit, name="control.rate_limit")
    router.add_post("/control/fail", fail, name="control.fail")
    router.add_post("/control/advance", advance, name="control.advance")
    router.add_get("/control/requests", request_counts, name="control.requests")
    router.add_delete("/control/requests", reset_request_counts, name="control.requests_reset")
    router.add_post("/control/signed-request", signed_request, name="control.signed_request")
