"""Account commands (/start, /help, /connect, /status, /disconnect) and the error handler."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.handlers import get_services, keyboards, texts
from storage import AccountStatus

if TYPE_CHECKING:
    from telegram import Chat, Message, User
    from telegram.ext import Application, ContextTypes

__all__ = [
    "connect",
    "disconnect",
    "disconnect_button",
    "handle_error",
    "help_command",
    "register",
    "start",
    "status",
]

logger = logging.getLogger(__name__)

# Deep-link payload of the "Open a private chat" button: /start connect.
START_PAYLOAD_CONNECT = "connect"

_DISCONNECT_CALLBACK = re.compile(keyboards.DISCONNECT_CALLBACK_PATTERN)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the account command handlers and the global error handler."""
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("connect", connect))
    application.add_handler(CommandHandler("status", status))
    application.add_handler(CommandHandler("disconnect", disconnect))
    application.add_handler(
        CallbackQueryHandler(disconnect_button, pattern=keyboards.DISCONNECT_CALLBACK_PATTERN)
    )
    application.add_error_handler(handle_error)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and explain what the bot does; `/start connect` goes on to /connect."""
    message, user, chat = _command_parts(update)
    if message is None or user is None or chat is None:
        return
    await _record_user(user, context)

    if context.args == [START_PAYLOAD_CONNECT] and chat.type == ChatType.PRIVATE:
        await _send_connect_link(message, user, chat, context)
        return
    await message.reply_text(texts.start_text(user.first_name), parse_mode=ParseMode.HTML)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands."""
    message, user, _chat = _command_parts(update)
    if message is None or user is None:
        return
    await _record_user(user, context)
    await message.reply_text(texts.help_text(), parse_mode=ParseMode.HTML)


async def connect(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the authorization link as a URL button; in a group, point to the private chat."""
    message, user, chat = _command_parts(update)
    if message is None or user is None or chat is None:
        return
    await _record_user(user, context)

    if chat.type != ChatType.PRIVATE:
        # A link posted in a group could be opened by another member, whose Instagram
        # account would then be connected to this user.
        await message.reply_text(
            texts.CONNECT_IN_PRIVATE,
            reply_markup=keyboards.private_chat_keyboard(context.bot.username),
        )
        return
    await _send_connect_link(message, user, chat, context)


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the connected username, account type and token expiry."""
    message, user, chat = _command_parts(update)
    if message is None or user is None or chat is None:
        return
    await _record_user(user, context)
    services = get_services(context)

    info = await services.accounts.status(user.id)
    if info is None:
        await message.reply_text(texts.NOT_CONNECTED)
        return
    if info.status is AccountStatus.DISCONNECTED:
        await message.reply_text(texts.deauthorized_text(info.username), parse_mode=ParseMode.HTML)
        return

    needs_reconnect = info.status is AccountStatus.NEEDS_RECONNECT
    text = texts.status_text(
        username=info.username,
        account_type=info.account_type,
        needs_reconnect=needs_reconnect,
        token_expires_at=info.token_expires_at,
    )
    reply_markup = None
    if needs_reconnect and chat.type == ChatType.PRIVATE:
        url = await services.accounts.start_connect(user.id, chat.id)
        reply_markup = keyboards.reconnect_keyboard(url)
    elif needs_reconnect:
        reply_markup = keyboards.private_chat_keyboard(context.bot.username)
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=reply_markup)


async def disconnect(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for confirmation before deleting the user's connection and data."""
    message, user, _chat = _command_parts(update)
    if message is None or user is None:
        return
    await _record_user(user, context)

    info = await get_services(context).accounts.status(user.id)
    if info is None:
        await message.reply_text(texts.DISCONNECT_NOTHING)
        return
    await message.reply_text(
        texts.disconnect_confirm_text(info.username),
        parse_mode=ParseMode.HTML,
        reply_markup=keyboards.disconnect_keyboard(user.id),
    )


async def disconnect_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Carry out or cancel a disconnect after the Yes or Cancel button."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = _DISCONNECT_CALLBACK.fullmatch(query.data)
    if match is None:
        await query.answer()
        return

    choice, owner_id = match.group(1), int(match.group(2))
    # In a group, only the member who sent /disconnect may answer the question.
    if query.from_user.id != owner_id:
        await query.answer(texts.NOT_YOUR_BUTTON, show_alert=True)
        return

    await query.answer()
    if choice == keyboards.DISCONNECT_CANCEL_CHOICE:
        await query.edit_message_text(texts.DISCONNECT_CANCELLED)
        return
    deleted = await get_services(context).accounts.disconnect(owner_id)
    await query.edit_message_text(texts.DISCONNECT_DONE if deleted else texts.DISCONNECT_NOTHING)


async def handle_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an error raised by any handler and tell the user briefly that it failed."""
    update_id = update.update_id if isinstance(update, Update) else None
    # The exception and its traceback are logged, never the text of the message.
    logger.error("Handling update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update):
        return

    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.ERROR_GENERIC, show_alert=True)
        elif update.effective_message is not None and update.effective_chat is not None:
            await update.effective_message.reply_text(texts.ERROR_GENERIC)
    except TelegramError as exc:
        logger.warning(
            "Telling the user about the failure of update %s failed: %s", update_id, exc
        )


def _command_parts(update: Update) -> tuple[Message | None, User | None, Chat | None]:
    return update.effective_message, update.effective_user, update.effective_chat


async def _record_user(user: User, context: ContextTypes.DEFAULT_TYPE) -> None:
    await get_services(context).accounts.record_user(
        user.id, username=user.username, first_name=user.first_name
    )


async def _send_connect_link(
    message: Message, user: User, chat: Chat, context: ContextTypes.DEFAULT_TYPE
) -> None:
    url = await get_services(context).accounts.start_connect(user.id, chat.id)
    await message.reply_text(texts.CONNECT_PROMPT, reply_markup=keyboards.connect_keyboard(url))
