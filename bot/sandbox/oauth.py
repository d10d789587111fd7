"""The authorize window and the code exchange of the sandbox."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from html import escape
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from bot.sandbox.content import SandboxAccount, TokenShape
from bot.sandbox.keys import SANDBOX_STATE
from bot.sandbox.pages import html_response
from bot.sandbox.state import SandboxState, flavor_for_scopes

__all__ = ["add_oauth_routes"]

logger = logging.getLogger(__name__)

_SCOPE_DESCRIPTIONS = {
    "instagram_business_basic": "your profile information and media",
    "instagram_business_content_publish": "publish content on your behalf",
    "instagram_business_manage_comments": "read and manage comments",
    "instagram_business_manage_insights": "read insights",
    "instagram_business_manage_messages": "read and send messages",
    "user_profile": "your profile information",
    "user_media": "your photos and videos",
}

APP_NAME = "Gramlink"


class _AuthorizeRequestError(Exception):
    """An invalid authorize request, shown as a 400 error page."""


def _split_scopes(raw: str) -> list[str]:
    # Instagram accepts scopes separated by commas; spaces are tolerated as well.
    return [scope for scope in raw.replace(" ", ",").split(",") if scope]


def _validate_authorize_request(state: SandboxState, params: Mapping[str, str]) -> list[str]:
    """Return the requested scopes, or raise _AuthorizeRequestError naming the problem."""
    client_id = params.get("client_id", "")
    if client_id != state.client_id:
        raise _AuthorizeRequestError("Invalid platform app: the client_id is not registered.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise _AuthorizeRequestError("Missing redirect_uri.")
    if redirect_uri not in state.redirect_uris:
        raise _AuthorizeRequestError(
            "Invalid redirect_uri: it must match a redirect URI registered for the app "
            f"({', '.join(state.redirect_uris)})."
        )
    if params.get("response_type", "") != "code":
        raise _AuthorizeRequestError("Invalid response_type: it must be code.")
    scopes = _split_scopes(params.get("scope", ""))
    try:
        flavor_for_scopes(scopes)
    except ValueError as exc:
        raise _AuthorizeRequestError(f"Invalid scope: {exc}.") from exc
    return scopes


def _error_page(message: str) -> web.Response:
    logger.debug("Sandbox authorize request rejected: %s", message)
    body = f'<h1>Something went wrong</h1><p class="error">{escape(message)}</p>'
    return html_response("Authorization error", body, status=400)


def _account_choice(account: SandboxAccount, checked: bool) -> str:
    element_id = f"account-{account.id}"
    checked_attribute = " checked" if checked else ""
    return (
        f'<div><input type="radio" name="account" id="{escape(element_id)}" '
        f'value="{escape(account.id)}"{checked_attribute}> '
        f'<label for="{escape(element_id)}">@{escape(account.username)} '
        f"({escape(account.account_type_basic.replace('_', ' ').lower())}, "
        f"{len(account.posts)} posts)</label></div>"
    )


def _authorize_page(state: SandboxState, params: Mapping[str, str], scopes: list[str]) -> str:
    hidden_names = ("client_id", "redirect_uri", "scope", "response_type", "state")
    hidden_fields = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in hidden_names
    )
    permissions = "".join(
        f"<li>{escape(_SCOPE_DESCRIPTIONS.get(scope, scope))} (<code>{escape(scope)}</code>)</li>"
        for scope in scopes
    )
    choices = "".join(
        _account_choice(account, index == 0) for index, account in enumerate(state.accounts)
    )
    redirect_host = urlsplit(params.get("redirect_uri", "")).netloc
    return (
        f"<h1>Allow {escape(APP_NAME)} to access your Instagram account?</h1>"
        f"<p>This is the Instagram sandbox. {escape(APP_NAME)} "
        f"(app id <code>{escape(state.client_id)}</code>) is asking for:</p>"
        f"<ul>{permissions}</ul>"
        '<form method="post">'
        f"{hidden_fields}"
        "<fieldset><legend>Log in as</legend>"
        f"{choices}</fieldset>"
        f"<p>You will be sent back to <strong>{escape(redirect_host)}</strong>.</p>"
        '<button type="submit" name="decision" value="allow">Allow</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form>"
    )


def _with_query(redirect_uri: str, query: dict[str, str]) -> str:
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return f"{redirect_uri}{separator}{urlencode(query)}"


async def show_authorize_page(request: web.Request) -> web.Response:
    """Show the app name, the requested permissions, an account picker and Allow / Deny."""
    state = request.app[SANDBOX_STATE]
    try:
        scopes = _validate_authorize_request(state, request.query)
    except _AuthorizeRequestError as exc:
        return _error_page(str(exc))
    return html_response(
        f"Authorize {APP_NAME} — Instagram sandbox", _authorize_page(state, request.query, scopes)
    )


async def submit_authorize_form(request: web.Request) -> web.Response:
    """Redirect to the app with a code (Allow) or with the denial error (Deny)."""
    state = request.app[SANDBOX_STATE]
    form = await request.post()
    params = {name: value for name, value in form.items() if isinstance(value, str)}
    try:
        scopes = _validate_authorize_request(state, params)
    except _AuthorizeRequestError as exc:
        return _error_page(str(exc))

    redirect_uri = params["redirect_uri"]
    oauth_state = params.get("state", "")
    decision = params.get("decision", "")
    if decision == "deny":
        query = {
            "error": "access_denied",
            "error_reason": "user_denied",
            "error_description": "Permissions error",
        }
        if oauth_state:
            query["state"] = oauth_state
        raise web.HTTPFound(_with_query(redirect_uri, query))
    if decision != "allow":
        return _error_page("Choose Allow or Deny.")

    account = state.account(params.get("account", ""))
    if account is None:
        return _error_page("Choose one of the listed accounts.")
    code = state.issue_code(account.id, redirect_uri, scopes)
    query = {"code": code}
    if oauth_state:
        query["state"] = oauth_state
    logger.info("Sandbox authorized account %s for %s", account.username, redirect_uri)
    # Instagram appends "#_" to the redirect; it is not part of the code.
    raise web.HTTPFound(_with_query(redirect_uri, query) + "#_")


async def exchange_code(request: web.Request) -> web.Response:
    """Exchange an authorization code for a short-lived token, in this account's shape."""
    state = request.app[SANDBOX_STATE]
    form = await request.post()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    account, token, record = state.exchange_code(
        client_id=fields.get("client_id", ""),
        client_secret=fields.get("client_secret", ""),
        grant_type=fields.get("grant_type", ""),
        redirect_uri=fields.get("redirect_uri", ""),
        code=fields.get("code", ""),
    )
    # The id is emitted as a raw JSON number for some accounts, even above 2**53.
    user_id: int | str = account.id if account.user_id_as_string else account.user_id
    if account.token_shape is TokenShape.WRAPPED:
        item = {"access_token": token, "user_id": user_id, "permissions": list(record.scopes)}
        return web.json_response({"data": [item]})
    return web.json_response(
        {"access_token": token, "user_id": user_id, "permissions": ",".join(record.scopes)}
    )


def add_oauth_routes(router: web.UrlDispatcher) -> None:
    """Register the authorize window and the code exchange."""
    router.add_get("/oauth/authorize", show_authorize_page, name="oauth.authorize")
    router.add_post("/oauth/authorize", submit_authorize_form, name="oauth.authorize_submit")
    router.add_post("/api/oauth/access_token", exchange_code, name="api.access_token")
