"""Routers by audience: customers in private chats, staff in the staff chat.

Routers are built per dispatcher (aiogram attaches a router to one parent only), so every
test and every process gets a fresh tree.
"""

from aiogram import F, Router

from handlers import customer, staff


def build_router(staff_chat_id: int) -> Router:
    customer_router = Router(name="customers")
    customer_router.message.filter(F.chat.type == "private")
    customer_router.include_router(customer.build_router())

    staff_router = Router(name="staff")
    staff_router.message.filter(F.chat.id == staff_chat_id)
    staff_router.include_router(staff.build_router())

    root = Router(name="tgdesk")
    root.include_routers(customer_router, staff_router)
    return root
