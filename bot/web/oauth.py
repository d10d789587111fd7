"""`GET /oauth/callback`: where the Instagram authorization window sends the user back."""

from __future__ import annotations

from aiohttp import web

from bot.services.accounts import ConnectOutcome, ConnectResult
from bot.web.context import WEB_CONTEXT
from bot.web.pages import render_page

__all__ = ["oauth_callback"]

_TRY_AGAIN = "Go back to Telegram and send /connect to get a new link."

# Title, explanation and HTTP status of every outcome that is not a success.
_FAILURE_PAGES: dict[ConnectOutcome, tuple[str, str, int]] = {
    ConnectOutcome.DENIED: (
        "You declined",
        "You declined the authorization on Instagram, so nothing was connected.",
        400,
    ),
    ConnectOutcome.MISSING_STATE: (
        "Link incomplete",
        "This address is missing the state parameter that ties it to your Telegram chat.",
        400,
    ),
    ConnectOutcome.UNKNOWN_STATE: (
        "Link not recognised",
        "This sign-in link was not issued by this bot, or it was already cleaned up.",
        400,
    ),
    ConnectOutcome.EXPIRED_STATE: (
        "Link expired",
        "Sign-in links expire 10 minutes after /connect sends them.",
        400,
    ),
    ConnectOutcome.USED_STATE: (
        "Link already used",
        "Each sign-in link works once, and this one has been used.",
        400,
    ),
    ConnectOutcome.MISSING_CODE: (
        "Authorization code missing",
        "Instagram did not send an authorization code with this request.",
        400,
    ),
    ConnectOutcome.REJECTED_CODE: (
        "Authorization failed",
        "Instagram rejected the authorization code; it may have expired or been used already.",
        400,
    ),
    ConnectOutcome.INSTAGRAM_UNAVAILABLE: (
        "Instagram is not answering",
        "Instagram could not be reached or returned an error, so nothing was connected.",
        502,
    ),
}


async def oauth_callback(request: web.Request) -> web.Response:
    """Finish the connect flow and show what happened."""
    context = request.app[WEB_CONTEXT]
    query = request.query
    result = await context.services.accounts.complete_connect(
        state=query.get("state"), code=query.get("code"), error=query.get("error")
    )
    bot_link = ("Back to Telegram", context.back_to_bot_url)
    return _render_result(result, bot_link)


def _render_result(result: ConnectResult, bot_link: tuple[str, str]) -> web.Response:
    if result.outcome is ConnectOutcome.CONNECTED:
        return render_page(
            f"Connected as @{result.username}",
            ["Your Instagram account is connected. The bot has sent you the next steps."],
            link=bot_link,
        )
    if result.outcome is ConnectOutcome.UNSUPPORTED_ACCOUNT:
        return render_page(
            f"@{result.username} is a personal account",
            [
                "Instagram only lets apps read the posts of Business and Creator accounts, "
                "so nothing was connected.",
                "Switch the account to a professional one in the Instagram app, then send "
                "/connect again.",
            ],
            link=bot_link,
        )
    title, explanation, status = _FAILURE_PAGES[result.outcome]
    return render_page(title, [explanation, _TRY_AGAIN], status=status, link=bot_link)
