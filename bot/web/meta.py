"""Meta's signed callbacks (deauthorize, data deletion) and the deletion status page."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from aiohttp import web

from bot.instagram import InvalidSignedRequest, SignedRequest
from bot.web.context import WEB_CONTEXT
from bot.web.pages import render_page
from storage import DeletionStatus

__all__ = [
    "DELETION_TASKS",
    "data_deletion",
    "deauthorize",
    "deletion_status",
    "wait_for_deletions",
]

logger = logging.getLogger(__name__)

# Deletions started by `POST /instagram/data-deletion`, awaited when the server shuts down.
DELETION_TASKS = web.AppKey("deletion_tasks", set[asyncio.Task[bool]])


async def deauthorize(request: web.Request) -> web.Response:
    """Disconnect every connection of the Instagram user named by the signed request."""
    context = request.app[WEB_CONTEXT]
    signed = await _verified_signed_request(request)
    await context.services.deletion.deauthorize(signed.user_id)
    return web.json_response({"success": True})


async def data_deletion(request: web.Request) -> web.Response:
    """Record a deletion request, start it right away and return its status URL and code.

    A replay of the same signed request returns the code of the first one.
    """
    context = request.app[WEB_CONTEXT]
    signed = await _verified_signed_request(request)
    deletion = await context.services.deletion.request_deletion(
        signed.user_id, issued_at=signed.issued_at
    )

    if deletion.status is DeletionStatus.PENDING:
        # The request stays pending in the database until this task completes it, so the
        # scheduled deletion job carries it out if the process stops first.
        task = asyncio.create_task(context.services.deletion.carry_out(deletion.confirmation_code))
        tasks = request.app[DELETION_TASKS]
        tasks.add(task)
        task.add_done_callback(_finish_deletion_task(tasks))

    code = deletion.confirmation_code
    url = f"{context.services.settings.public_url_base}/deletion/{code}"
    return web.json_response({"url": url, "confirmation_code": code})


async def deletion_status(request: web.Request) -> web.Response:
    """Show whether a deletion request is pending or completed, and when."""
    context = request.app[WEB_CONTEXT]
    deletion = await context.services.deletion.status(request.match_info["code"])
    if deletion is None:
        return render_page(
            "Deletion request not found",
            ["No data deletion request has this confirmation code."],
            status=404,
        )

    requested = f"Requested on {deletion.requested_at:%Y-%m-%d %H:%M} UTC."
    if deletion.status is DeletionStatus.COMPLETED and deletion.completed_at is not None:
        return render_page(
            "Data deleted",
            [
                requested,
                f"Completed on {deletion.completed_at:%Y-%m-%d %H:%M} UTC: Gramlink no longer "
                "stores any data about this Instagram account.",
            ],
        )
    return render_page(
        "Deletion in progress",
        [requested, "The data is being deleted; this takes less than a minute."],
    )


async def wait_for_deletions(app: web.Application) -> None:
    """Let deletions that are still running finish before the server stops."""
    tasks = app[DELETION_TASKS]
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def _verified_signed_request(request: web.Request) -> SignedRequest:
    form = await request.post()
    raw = form.get("signed_request")
    if not isinstance(raw, str) or not raw:
        raise _bad_request("signed_request is missing")
    try:
        return request.app[WEB_CONTEXT].services.deletion.verify_signed_request(raw)
    except InvalidSignedRequest as exc:
        logger.warning("Rejected a Meta callback on %s: %s", request.path, exc)
        raise _bad_request(str(exc)) from None


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _finish_deletion_task(tasks: set[asyncio.Task[bool]]) -> Callable[[asyncio.Task[bool]], None]:
    def finish(task: asyncio.Task[bool]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "Deletion failed; the scheduled job retries it",
                exc_info=task.exception(),
            )

    return finish
