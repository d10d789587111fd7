"""Group chats: `/subscribe` with an admin's consent, `/unsubscribe`, migration and removal."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram import ChatMember, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.handlers import get_services, keyboards, texts
from bot.services.subscriptions import SubscribeResult, SubscribeStatus, UnsubscribeStatus

if TYPE_CHECKING:
    from telegram.ext import Application

__all__ = ["register"]

logger = logging.getLogger(__name__)

_GROUP_TYPES = (ChatType.GROUP, ChatType.SUPERGROUP)
_ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
_REMOVED_STATUSES = (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the group command, confirmation, migration and membership handlers."""
    application.add_handler(CommandHandler("subscribe", subscribe_command))
    application.add_handler(CommandHandler("unsubscribe", unsubscribe_command))
    application.add_handler(
        CallbackQueryHandler(confirm_button, pattern=keyboards.SUBSCRIBE_CONFIRM_PATTERN)
    )
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated))
    application.add_handler(ChatMemberHandler(bot_membership, ChatMemberHandler.MY_CHAT_MEMBER))


async def _is_admin(context: ContextTypes.DEFAULT_TYPE, chat_id: int, user_id: int) -> bool:
    """Return whether the user is an admin or the owner of the chat, asking Telegram."""
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except TelegramError as exc:
        logger.warning(
            "Checking admin rights of user %s in chat %s failed: %s", user_id, chat_id, exc
        )
        return False
    return member.status in _ADMIN_STATUSES


async def subscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe the group to the sender's account, or ask an admin to confirm it."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    if chat.type not in _GROUP_TYPES:
        await message.reply_text(texts.SUBSCRIBE_IN_GROUP_ONLY)
        return
    services = get_services(context)

    is_admin = await _is_admin(context, chat.id, user.id)
    result = await services.subscriptions.subscribe(chat.id, user.id, is_admin)
    if result.status is SubscribeStatus.NEEDS_ADMIN and result.confirm_data and result.username:
        await message.reply_text(
            texts.subscribe_needs_admin_text(result.username),
            parse_mode=ParseMode.HTML,
            reply_markup=keyboards.subscribe_confirm_keyboard(result.confirm_data),
        )
        return
    await message.reply_text(_subscribe_text(result), parse_mode=ParseMode.HTML)


async def confirm_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Carry out a member's subscription request when a group admin presses Confirm.

    The pressed message must show the button with this exact data. A press that carries
    the data on any other message, or on the request after an admin confirmed it, changes
    nothing.
    """
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or query.data is None or user is None or chat is None:
        return
    if not keyboards.shows_button(query.message, query.data):
        logger.debug(
            "User %s pressed subscription data not shown on message in chat %s", user.id, chat.id
        )
        await query.answer(texts.BUTTON_NO_LONGER_WORKS)
        return
    services = get_services(context)

    is_admin = await _is_admin(context, chat.id, user.id)
    result = await services.subscriptions.confirm(chat.id, query.data, is_admin)
    if result.status is SubscribeStatus.NOT_ADMIN:
        await query.answer(texts.SUBSCRIBE_ADMINS_ONLY, show_alert=True)
        return
    if result.status is SubscribeStatus.STALE:
        await query.answer(texts.SUBSCRIBE_STALE, show_alert=True)
        return
    await query.answer()
    try:
        await query.edit_message_text(_subscribe_text(result), parse_mode=ParseMode.HTML)
    except TelegramError as exc:
        logger.warning("Editing the subscription request in chat %s failed: %s", chat.id, exc)


def _subscribe_text(result: SubscribeResult) -> str:
    username = result.username or ""
    if result.status is SubscribeStatus.SUBSCRIBED:
        return texts.subscribed_text(username)
    if result.status is SubscribeStatus.ALREADY:
        return texts.already_subscribed_text(username)
    if result.status is SubscribeStatus.NEEDS_RECONNECT:
        return texts.NEEDS_RECONNECT_IN_GROUP
    if result.status is SubscribeStatus.STALE:
        return texts.SUBSCRIBE_STALE
    return texts.NOT_CONNECTED


async def unsubscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop posting the sender's account here; an admin may stop every subscription."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    if chat.type not in _GROUP_TYPES:
        await message.reply_text(texts.SUBSCRIBE_IN_GROUP_ONLY)
        return
    services = get_services(context)

    is_admin = await _is_admin(context, chat.id, user.id)
    result = await services.subscriptions.unsubscribe(chat.id, user.id, is_admin)
    if result.status is UnsubscribeStatus.UNSUBSCRIBED:
        text = texts.unsubscribed_text(result.usernames)
    elif result.status is UnsubscribeStatus.NOT_ALLOWED:
        text = texts.UNSUBSCRIBE_NOT_ALLOWED
    else:
        text = texts.UNSUBSCRIBE_NOTHING
    await message.reply_text(text, parse_mode=ParseMode.HTML)


async def chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Move subscriptions when a group becomes a supergroup.

    Telegram sends two service messages: `migrate_to_chat_id` in the old group and
    `migrate_from_chat_id` in the new one. Either is enough, and the second finds nothing
    left to move.
    """
    message = update.effective_message
    if message is None:
        return
    services = get_services(context)

    if message.migrate_to_chat_id is not None:
        await services.subscriptions.chat_migrated(message.chat_id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:
        await services.subscriptions.chat_migrated(message.migrate_from_chat_id, message.chat_id)


async def bot_membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Deactivate a chat's subscriptions when the bot is removed from it or blocked."""
    change = update.my_chat_member
    if change is None:
        return
    new_status = change.new_chat_member.status
    if new_status not in _REMOVED_STATUSES:
        return
    reason = "bot removed" if new_status == ChatMember.LEFT else "bot banned or blocked"
    await get_services(context).subscriptions.chat_removed(change.chat.id, reason)
