"""Routers by audience: admins, customers in private chats, staff in the staff chat.

Routers are built per dispatcher (aiogram attaches a router to one parent only), so every
test and every process gets a fresh tree. Messages in other groups the bot is added to are
ignored; a button pressed there (a card left in an earlier staff chat) is answered.
"""

from aiogram import F, Router

from bot.settings import Settings
from handlers import admin, cards, customer, staff, staff_commands


def build_router(settings: Settings) -> Router:
    private = F.chat.type == "private"
    in_staff_chat = F.chat.id == settings.staff_chat_id

    admin_router = Router(name="admins")
    admin_router.message.filter(private | in_staff_chat)
    admin_router.include_router(admin.build_router(settings.admin_ids))

    customer_router = Router(name="customers")
    customer_router.message.filter(private)
    customer_router.include_router(customer.build_router())

    staff_router = Router(name="staff")
    staff_router.message.filter(in_staff_chat)
    staff_router.callback_query.filter(F.message.chat.id == settings.staff_chat_id)
    staff_router.include_routers(
        staff_commands.build_router(), staff.build_router(), cards.build_router()
    )

    # A press on a card left in an earlier staff chat gets an answer, not a spinning button.
    elsewhere = Router(name="elsewhere")
    elsewhere.callback_query.register(cards.on_stale_button)

    root = Router(name="tgdesk")
    root.include_routers(admin_router, customer_router, staff_router, elsewhere)
    return root
