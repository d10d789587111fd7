"""Account commands (/start, /help, /connect, /status, /disconnect) and the error handler."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from telegram import Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.handlers import get_services, keyboards, texts
from bot.services.accounts import DisconnectCheck
from storage import AccountStatus

if TYPE_CHECKING:
    from telegram import CallbackQuery, Chat, User
    from telegram.ext import Application, ContextTypes

__all__ = [
    "connect",
    "disconnect",
    "disconnect_button",
    "handle_error",
    "help_command",
    "is_message_not_modified",
    "register",
    "start",
    "status",
]

logger = logging.getLogger(__name__)

_DISCONNECT_CALLBACK = re.compile(keyboards.DISCONNECT_CALLBACK_DATA)


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

    if context.args == [keyboards.START_PAYLOAD_CONNECT] and chat.type == ChatType.PRIVATE:
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
    message, user, chat = _command_parts(update)
    if message is None or user is None or chat is None:
        return
    await _record_user(user, context)

    info = await get_services(context).accounts.status(user.id)
    if info is None:
        await message.reply_text(texts.DISCONNECT_NOTHING)
        return
    await message.reply_text(
        texts.disconnect_confirm_text(info.username),
        parse_mode=ParseMode.HTML,
        reply_markup=keyboards.disconnect_keyboard(info.account_id),
        # In a group the question quotes the command, so members see whose question it is.
        do_quote=chat.type != ChatType.PRIVATE,
    )


async def disconnect_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Carry out or cancel a disconnect after the Yes or Cancel button.

    The question must still show the pressed button, and the account named in it must be
    the one that the user who presses has connected now. Every other press gets a short
    note and leaves the message as it is.
    """
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = _DISCONNECT_CALLBACK.fullmatch(query.data)
    if match is None:
        logger.debug("Unrecognised disconnect button from user %s", query.from_user.id)
        await query.answer(texts.BUTTON_NO_LONGER_WORKS)
        return
    choice, account_id = match.group(1), int(match.group(2))
    presser_id = query.from_user.id

    if not keyboards.shows_button(query.message, query.data):
        # The question was answered already, or the data does not come from this message.
        await query.answer(texts.DISCONNECT_ALREADY_ANSWERED)
        return
    accounts = get_services(context).accounts
    check = await accounts.check_disconnect(presser_id, account_id)
    if check is DisconnectCheck.FOREIGN:
        await query.answer(texts.NOT_YOUR_BUTTON, show_alert=True)
        return
    if check is DisconnectCheck.EXPIRED:
        await query.answer(texts.DISCONNECT_EXPIRED, show_alert=True)
        return

    if choice == keyboards.DISCONNECT_CANCEL_CHOICE:
        await query.answer()
        await _edit_question(query, texts.DISCONNECT_CANCELLED)
        return
    # A second press that raced the first one finds the account gone and changes nothing.
    if not await accounts.disconnect(presser_id, account_id=account_id):
        await query.answer(texts.DISCONNECT_ALREADY_ANSWERED)
        return
    await query.answer()
    await _edit_question(query, texts.DISCONNECT_DONE)


async def handle_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an error raised by any handler and tell the user briefly that it failed."""
    update_id = update.update_id if isinstance(update, Update) else None
    if is_message_not_modified(context.error):
        # An edit that repeats the current text, for example after a double tap, is harmless.
        logger.debug("Update %s edited a message to its current content", update_id)
        return
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


def is_message_not_modified(error: BaseException | None) -> bool:
    """Return whether the Bot API rejected an edit because nothing would change."""
    return isinstance(error, BadRequest) and "message is not modified" in error.message.lower()


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


async def _edit_question(query: CallbackQuery, text: str) -> None:
    try:
        await query.edit_message_text(text)
    except BadRequest as exc:
        if not is_message_not_modified(exc):
            raise
        logger.debug("Disconnect question of user %s is already up to date", query.from_user.id)
