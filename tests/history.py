"""Bulk response history for job tests (written straight to the tables, like the messaging service would)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from models import Channel, Contact, Message, SenderType, WindowAccount
from schema.ids import decode


async def seed_messages(account_gid: str, n: int, start: datetime | None = None, step_seconds: int = 60,
                        contact_name: str = "顧客 太郎", channel: Channel = Channel.LINE,
                        content=lambda i: f"message {i}") -> list[Message]:
    account = await WindowAccount.get(id=decode(account_gid, "WindowAccount"))
    contact, _ = await Contact.get_or_create(account_id=account.id, channel=channel, external_id=f"ext-{contact_name}",
                                             defaults={"name": contact_name})
    start = start or datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)
    rows = [Message(domain_id=account.domain_id, account_id=account.id, contact_id=contact.id, room_id=None,
                    sender_type=SenderType.CUSTOMER if i % 2 == 0 else SenderType.RESPONDER,
                    sender_name=contact_name if i % 2 == 0 else "担当者", content=content(i),
                    sent_at=start + timedelta(seconds=i * step_seconds)) for i in range(n)]
    await Message.bulk_create(rows, batch_size=1000)
    return rows
