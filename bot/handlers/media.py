"""`/media` pages with Older and Newer buttons, and `/latest [n]`."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from bot.handlers import get_services, keyboards, texts
from bot.services.albums import Album, MediaFile, split_evenly
from bot.services.delivery import DeliveryStatus
from bot.services.feed import FeedPage, FeedStatus, UrlRefresher

if TYPE_CHECKING:
    from telegram import Message
    from telegram.ext import Application

    from bot.services import Services

__all__ = ["register"]

logger = logging.getLogger(__name__)

MAX_LATEST = 10
_MEDIA_CALLBACK = re.compile(keyboards.MEDIA_CALLBACK_DATA)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the /media, /latest and paging button handlers."""
    application.add_handler(CommandHandler("media", media_command))
    application.add_handler(CommandHandler("latest", latest_command))
    application.add_handler(
        CallbackQueryHandler(media_button, pattern=keyboards.MEDIA_CALLBACK_PATTERN)
    )


async def media_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the newest posts as albums, then a control message with paging buttons."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    if chat.type != ChatType.PRIVATE:
        await _point_to_private_chat(message, context)
        return
    services = get_services(context)

    page = await services.feed.page(user.id)
    if page.status is not FeedStatus.OK:
        await _send_failure(services, context, chat.id, chat.type, user.id, page)
        return
    await _send_page(services, context, chat.id, page)


async def media_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the page a paging button points at; expired or foreign buttons get a short note."""
    query = update.callback_query
    user, chat = update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    match = _MEDIA_CALLBACK.fullmatch(query.data or "")
    if match is None:
        # Malformed data or a page number beyond any browsing session.
        logger.debug("Unrecognised paging button from user %s", user.id)
        await query.answer(texts.MEDIA_STALE, show_alert=True)
        return
    services = get_services(context)

    page = await services.feed.page(user.id, match.group(1), int(match.group(2)))
    if page.status is FeedStatus.STALE:
        await query.answer(texts.MEDIA_STALE, show_alert=True)
        return
    if page.status is FeedStatus.FOREIGN:
        await query.answer(texts.NOT_YOUR_BUTTON, show_alert=True)
        return
    if page.status is FeedStatus.END:
        await query.answer(texts.MEDIA_NO_OLDER)
        return
    if page.status is not FeedStatus.OK:
        await query.answer()
        await _send_failure(services, context, chat.id, chat.type, user.id, page)
        return

    await query.answer()
    # Only the newest control message keeps buttons, so the chat has one place to page from.
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        logger.debug("Could not remove the old paging buttons in chat %s: %s", chat.id, exc)
    await _send_page(services, context, chat.id, page)


async def latest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the n newest photos (1 to 10, default 1) as one album or a single photo."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    if chat.type != ChatType.PRIVATE:
        await _point_to_private_chat(message, context)
        return
    count = _latest_count(context.args or [])
    if count is None:
        await message.reply_text(texts.LATEST_USAGE)
        return
    services = get_services(context)

    latest = await services.feed.latest_photos(user.id, count)
    if latest.status is FeedStatus.EMPTY:
        await message.reply_text(texts.NO_PHOTOS_YET)
        return
    if latest.status is not FeedStatus.OK:
        failure = FeedPage(status=latest.status, retry_after=latest.retry_after)
        await _send_failure(services, context, chat.id, chat.type, user.id, failure)
        return
    albums = [_caption_once_per_post(album) for album in split_evenly(latest.photos)]
    await _send_albums(services, context, chat.id, albums, latest.refresh_url)


async def _point_to_private_chat(message: Message, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Pages of photos would flood a group and hold the bot's group send rate for a minute.
    await message.reply_text(
        texts.PHOTOS_IN_PRIVATE,
        reply_markup=keyboards.private_chat_keyboard(context.bot.username, start_payload=None),
    )


def _caption_once_per_post(album: Album) -> Album:
    """Keep the post caption only on the first photo of each post within the album.

    Each photo that `latest_photos` returns carries its post's caption so that it can be
    sent alone. Without this step, several photos of one carousel would repeat it.
    """
    seen_posts: set[str] = set()
    files: list[MediaFile] = []
    for file in album:
        if file.post_id in seen_posts:
            files.append(replace(file, caption=None))
        else:
            seen_posts.add(file.post_id)
            files.append(file)
    return tuple(files)


def _latest_count(args: list[str]) -> int | None:
    if not args:
        return 1
    if len(args) != 1 or not args[0].isdigit():
        return None
    count = int(args[0])
    return count if 1 <= count <= MAX_LATEST else None


async def _send_page(
    services: Services, context: ContextTypes.DEFAULT_TYPE, chat_id: int, page: FeedPage
) -> None:
    chat_id, delivered = await _send_albums(
        services, context, chat_id, page.albums, page.refresh_url
    )
    if not delivered:
        return
    permalinks = [post.permalink for post in page.skipped if post.permalink]
    if permalinks:
        await _reply(context, chat_id, texts.skipped_posts_text(permalinks))

    if page.session_id is None:
        return
    markup = keyboards.media_keyboard(
        page.session_id, page.page, has_newer=page.has_newer, has_older=page.has_older
    )
    await _reply(context, chat_id, texts.media_page_text(page.username, page.page + 1), markup)


async def _send_albums(
    services: Services,
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    albums: tuple[Album, ...] | list[Album],
    refresh_url: UrlRefresher,
) -> tuple[int, bool]:
    """Send albums in order; return the chat id after any migration and whether to go on."""
    too_large: list[MediaFile] = []
    for album in albums:
        result = await services.delivery.send_album(chat_id, album, refresh_url=refresh_url)
        chat_id = result.chat_id
        too_large.extend(result.too_large)
        if result.status is DeliveryStatus.CHAT_GONE:
            return chat_id, False
        if result.status is DeliveryStatus.RATE_LIMITED:
            await _reply(context, chat_id, texts.TELEGRAM_BUSY)
            return chat_id, False
        if result.status is DeliveryStatus.FAILED:
            await _reply(context, chat_id, texts.ERROR_GENERIC)
            return chat_id, False

    permalinks = [file.permalink for file in too_large if file.permalink]
    if permalinks:
        await _reply(context, chat_id, texts.too_large_text(list(dict.fromkeys(permalinks))))
    return chat_id, True


async def _send_failure(
    services: Services,
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    chat_type: str,
    telegram_user_id: int,
    page: FeedPage,
) -> None:
    """Tell the user why no page could be shown and what to do next."""
    markup: InlineKeyboardMarkup | None = None
    if page.status is FeedStatus.NOT_CONNECTED:
        text = texts.NOT_CONNECTED
    elif page.status is FeedStatus.NEEDS_RECONNECT:
        if chat_type == ChatType.PRIVATE:
            text = texts.NEEDS_RECONNECT
            url = await services.accounts.start_connect(telegram_user_id, chat_id)
            markup = keyboards.reconnect_keyboard(url)
        else:
            text = texts.NEEDS_RECONNECT_IN_GROUP
    elif page.status is FeedStatus.RATE_LIMITED:
        text = texts.rate_limited_text(page.retry_after)
    elif page.status is FeedStatus.EMPTY:
        text = texts.MEDIA_NOTHING_YET
    elif page.status is FeedStatus.END:
        text = texts.MEDIA_NO_OLDER
    elif page.status in (FeedStatus.STALE, FeedStatus.FOREIGN):
        text = texts.MEDIA_STALE
    else:
        text = texts.INSTAGRAM_DOWN
    await _reply(context, chat_id, text, markup)


async def _reply(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    try:
        await context.bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    except TelegramError as exc:
        logger.warning("Replying in chat %s failed: %s: %s", chat_id, type(exc).__name__, exc)
