"""The command menus Telegram shows: customers, staff in the staff chat, and admins."""

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
)
from aiogram.types.bot_command_scope_union import BotCommandScopeUnion

from bot.settings import Settings

logger = logging.getLogger(__name__)

CUSTOMER_COMMANDS = {
    "start": "Start: how support works",
    "help": "How to get help",
    "status": "Your request's number and status",
    "new": "Close your request and start a new one",
    "close": "Close your request",
}
STAFF_COMMANDS = {
    "take": "Take the ticket",
    "release": "Give the ticket back to the queue",
    "assign": "Assign to @username or user id",
    "hold": "Put on hold",
    "resolve": "Mark resolved",
    "close": "Close the ticket",
    "reopen": "Reopen the ticket",
    "note": "Internal note (never sent to the customer)",
    "ticket": "Show the ticket's card",
    "history": "The ticket's messages and events",
}
ADMIN_COMMANDS = {
    "stats": "Statistics with a chart",
    "find": "Find tickets: text, @username, user id or number",
    "ban": "Ban a customer",
    "unban": "Unban a customer",
    "export": "Tickets as CSV: /export 2026-11-01 2026-11-30",
}


async def set_menus(bot: Bot, settings: Settings) -> None:
    """Set each audience's menu; a scope Telegram refuses is logged and skipped."""
    menus: list[tuple[BotCommandScopeUnion, dict[str, str]]] = [
        (BotCommandScopeAllPrivateChats(), CUSTOMER_COMMANDS),
        (BotCommandScopeChat(chat_id=settings.staff_chat_id), STAFF_COMMANDS),
    ]
    for admin_id in settings.admin_ids:
        menus.append((BotCommandScopeChat(chat_id=admin_id), CUSTOMER_COMMANDS | ADMIN_COMMANDS))
        staff_chat_admin = BotCommandScopeChatMember(
            chat_id=settings.staff_chat_id, user_id=admin_id
        )
        menus.append((staff_chat_admin, STAFF_COMMANDS | ADMIN_COMMANDS))
    for scope, commands in menus:
        listed = [BotCommand(command=name, description=text) for name, text in commands.items()]
        try:
            await bot.set_my_commands(listed, scope=scope)
        except TelegramAPIError as error:
            # An admin who never opened the bot has no chat yet: their menu waits for a restart.
            logger.warning("command menu for %s not set: %s", scope.type, error.message)
