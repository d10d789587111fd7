"""Inline mode: `@bot` in any chat lists the user's recent photos to post."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram import (
    InlineQueryResultCachedPhoto,
    InlineQueryResultPhoto,
    InlineQueryResultsButton,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import ChosenInlineResultHandler, ContextTypes, InlineQueryHandler

from bot.handlers import get_services, texts
from bot.services.feed import FeedStatus, InlinePhoto

if TYPE_CHECKING:
    from telegram.ext import Application

__all__ = ["register"]

logger = logging.getLogger(__name__)

# Seconds Telegram may cache an answer; short, because new posts should appear soon.
INLINE_CACHE_SECONDS = 30
# The `/start` payload that the connect button opens the private chat with.
CONNECT_START_PARAMETER = "connect"


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the inline query and chosen result handlers."""
    application.add_handler(InlineQueryHandler(inline_query))
    application.add_handler(ChosenInlineResultHandler(chosen_result))


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer with the user's recent photos, paged through `next_offset`."""
    query = update.inline_query
    if query is None:
        return
    services = get_services(context)

    result = await services.feed.inline_photos(query.from_user.id, query.offset)
    if result.status in (FeedStatus.NOT_CONNECTED, FeedStatus.NEEDS_RECONNECT):
        label = (
            texts.INLINE_CONNECT_BUTTON
            if result.status is FeedStatus.NOT_CONNECTED
            else texts.INLINE_RECONNECT_BUTTON
        )
        button = InlineQueryResultsButton(text=label, start_parameter=CONNECT_START_PARAMETER)
        await query.answer([], button=button, is_personal=True, cache_time=0)
        return
    if result.status is not FeedStatus.OK:
        if result.status not in (FeedStatus.EMPTY, FeedStatus.STALE):
            logger.info("Inline query of user %s: %s", query.from_user.id, result.status.value)
        await query.answer([], is_personal=True, cache_time=INLINE_CACHE_SECONDS)
        return

    await query.answer(
        [_result(photo) for photo in result.photos],
        next_offset=result.next_offset,
        is_personal=True,
        cache_time=INLINE_CACHE_SECONDS,
    )


def _result(photo: InlinePhoto) -> InlineQueryResultPhoto | InlineQueryResultCachedPhoto:
    file = photo.file
    if photo.file_id is not None:
        return InlineQueryResultCachedPhoto(
            id=file.media_id,
            photo_file_id=photo.file_id,
            caption=file.caption,
            parse_mode=ParseMode.HTML,
        )
    # Instagram images have no separate thumbnail, so the photo is its own thumbnail.
    return InlineQueryResultPhoto(
        id=file.media_id,
        photo_url=file.media_url,
        thumbnail_url=file.media_url,
        caption=file.caption,
        parse_mode=ParseMode.HTML,
    )


async def chosen_result(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log which photo a user posted; Telegram itself sends the message with its caption."""
    chosen = update.chosen_inline_result
    if chosen is None:
        return
    logger.debug("User %s posted media %s inline", chosen.from_user.id, chosen.result_id)
