"""Tortoise models: the database is the source of truth for every rule and every job."""
from __future__ import annotations

from datetime import date, datetime, timezone
from enum import Enum

from tortoise import fields
from tortoise.models import Model


def _as_tortoise_field(path: str, ours: type, theirs: type) -> str:
    """Migrations record these fields as Tortoise's own: the column is the same, only reading differs."""
    return f"{theirs.__module__}.{theirs.__name__}" if path == f"{ours.__module__}.{ours.__name__}" else path


def _parsed_iso(value, parse):
    """SQLite's text parsed by `parse`; anything it refuses is left for Tortoise's parser."""
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError:
            pass
    return value


class DatetimeField(fields.DatetimeField):
    """Tortoise's DatetimeField, reading SQLite's text with `datetime.fromisoformat` (C, ~0.4 µs)
    instead of the iso8601 package's regular expressions (~10 µs): a page of 100 accounts reads
    hundreds of them. Anything fromisoformat refuses still goes to Tortoise's parser."""

    def to_python_value(self, value):
        return super().to_python_value(_parsed_iso(value, datetime.fromisoformat))

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        return _as_tortoise_field(path, DatetimeField, fields.DatetimeField), args, kwargs


class DateField(fields.DateField):
    """Tortoise's DateField, reading SQLite's text with `date.fromisoformat` (see DatetimeField)."""

    def to_python_value(self, value):
        return super().to_python_value(_parsed_iso(value, date.fromisoformat))

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        return _as_tortoise_field(path, DateField, fields.DateField), args, kwargs


class UTCDatetimeField(DatetimeField):
    """Stores every aware datetime in UTC: SQLite keeps the text as given, and a mix of offsets
    would break ordering and range queries on the column (the export reads by time)."""

    def to_db_value(self, value, instance):
        value = super().to_db_value(value, instance)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value


class Role(str, Enum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class TokenKind(str, Enum):
    MEMBER = "MEMBER"
    OPERATOR = "OPERATOR"


class AccountStatus(str, Enum):
    ACTIVE = "ACTIVE"
    RESETTING = "RESETTING"
    RESET = "RESET"


class Channel(str, Enum):
    LINE_WORKS = "LINE_WORKS"
    LINE = "LINE"
    EMAIL = "EMAIL"


class BotOrigin(str, Enum):
    CX_TALK = "CX_TALK"
    DEV_CONSOLE = "DEV_CONSOLE"


class SenderType(str, Enum):
    CUSTOMER = "CUSTOMER"
    RESPONDER = "RESPONDER"
    BOT = "BOT"
    AUTO_REPLY = "AUTO_REPLY"


class AutoReplyKind(str, Enum):
    GREETING = "GREETING"
    OUT_OF_HOURS = "OUT_OF_HOURS"
    HOLIDAY = "HOLIDAY"


class ExportStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    READY = "READY"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class ExportFormat(str, Enum):
    CSV = "CSV"
    JSONL = "JSONL"


class CsvEncoding(str, Enum):
    UTF8_BOM = "UTF8_BOM"
    UTF8 = "UTF8"
    CP932 = "CP932"


class Domain(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "domains"


class Member(Model):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField("models.Domain", related_name="members", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    email = fields.CharField(max_length=254)
    email_key = fields.CharField(max_length=254)  # casefolded, for uniqueness and search
    role = fields.CharEnumField(Role, max_length=10, default=Role.MEMBER)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "members"
        unique_together = (("domain", "email_key"),)


class ApiToken(Model):
    # Only the SHA-256 of a token is stored: the token itself is shown once.
    # (No docstrings on models: Tortoise turns them into SQL comments and splits on ';'.)
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    kind = fields.CharEnumField(TokenKind, max_length=10)
    member = fields.ForeignKeyField("models.Member", related_name="tokens", null=True, on_delete=fields.CASCADE)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "api_tokens"


class Product(Model):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField("models.Domain", related_name="products", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    responder_limit = fields.IntField()
    quantity = fields.IntField()
    in_use = fields.IntField(default=0)  # ACTIVE accounts on this product; changed only by conditional UPDATEs
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "products"
        unique_together = (("domain", "name"),)


class WindowAccount(Model):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField("models.Domain", related_name="accounts", on_delete=fields.CASCADE)
    product = fields.ForeignKeyField("models.Product", related_name="accounts", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=20)
    # Uniqueness keys; set to NULL when the account is reset so the name and handle are free again.
    name_key = fields.CharField(max_length=255, null=True)
    handle = fields.CharField(max_length=20)
    handle_key = fields.CharField(max_length=20, null=True, unique=True)
    description = fields.CharField(max_length=100, null=True)
    image_name = fields.CharField(max_length=64, null=True)
    invite_token = fields.CharField(max_length=64, unique=True)
    timezone = fields.CharField(max_length=64, default="Asia/Tokyo")
    started_on = DateField()
    status = fields.CharEnumField(AccountStatus, max_length=10, default=AccountStatus.ACTIVE)
    responder_count = fields.IntField(default=0)  # changed only by conditional UPDATEs
    # Window settings. Hours as minutes of the local day per weekday (services.schedule).
    business_hours = fields.JSONField(null=True)  # NULL: the default Monday–Friday 09:00–18:00
    greeting_message = fields.TextField(default="", db_default="")
    out_of_hours_message = fields.TextField(default="", db_default="")
    holiday_message = fields.TextField(default="", db_default="")
    last_message_at = DatetimeField(null=True)
    # Reset cleanup job: the row is its source of truth (status RESETTING = job to do).
    reset_started_at = UTCDatetimeField(null=True)
    reset_attempt = fields.IntField(default=0, db_default=0)
    reset_lease_until = UTCDatetimeField(null=True)
    created_at = DatetimeField(auto_now_add=True)
    updated_at = DatetimeField(auto_now=True)

    class Meta:
        table = "window_accounts"
        unique_together = (("domain", "name_key"),)
        indexes = (("domain_id", "status", "id"),)


class Responder(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.WindowAccount", related_name="responders", on_delete=fields.CASCADE)
    member = fields.ForeignKeyField("models.Member", related_name="responder_of", on_delete=fields.CASCADE)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "responders"
        unique_together = (("account", "member"),)


class Holiday(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.WindowAccount", related_name="holidays", on_delete=fields.CASCADE)
    start_date = DateField()
    end_date = DateField()  # inclusive
    name = fields.CharField(max_length=100, null=True)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "holidays"
        indexes = (("account_id", "start_date"),)


class Contact(Model):
    # A customer of one account, identified by (channel, external_id).
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.WindowAccount", related_name="contacts", on_delete=fields.CASCADE)
    channel = fields.CharEnumField(Channel, max_length=12)
    external_id = fields.CharField(max_length=200)
    name = fields.CharField(max_length=100)
    greeted_at = DatetimeField(null=True)  # set once, by a conditional UPDATE
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "contacts"
        unique_together = (("account", "channel", "external_id"),)
        indexes = (("account_id", "id"),)


class TalkRoom(Model):
    # DIRECT or GROUP follows from the number of responder participants; it is not stored.
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.WindowAccount", related_name="talk_rooms", on_delete=fields.CASCADE)
    contact = fields.ForeignKeyField("models.Contact", related_name="talk_rooms", on_delete=fields.CASCADE)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "talk_rooms"
        indexes = (("account_id", "id"), ("contact_id",))


class TalkRoomParticipant(Model):
    id = fields.IntField(primary_key=True)
    room = fields.ForeignKeyField("models.TalkRoom", related_name="participants", on_delete=fields.CASCADE)
    member = fields.ForeignKeyField("models.Member", related_name="talk_rooms", on_delete=fields.CASCADE)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "talk_room_participants"
        unique_together = (("room", "member"),)


class Bot(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.WindowAccount", related_name="bots", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    origin = fields.CharEnumField(BotOrigin, max_length=12)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "bots"


class Message(Model):
    # The response history. Kept when its room is deleted (room set to NULL) and when the
    # account is reset. domain_id is denormalised for the export, which reads by domain and time.
    id = fields.BigIntField(primary_key=True)
    domain = fields.ForeignKeyField("models.Domain", related_name="messages", on_delete=fields.CASCADE)
    account = fields.ForeignKeyField("models.WindowAccount", related_name="messages", on_delete=fields.CASCADE)
    contact = fields.ForeignKeyField("models.Contact", related_name="messages", on_delete=fields.CASCADE)
    room = fields.ForeignKeyField("models.TalkRoom", related_name="messages", null=True, on_delete=fields.SET_NULL)
    sender_type = fields.CharEnumField(SenderType, max_length=12)
    sender_name = fields.CharField(max_length=100)
    auto_reply_kind = fields.CharEnumField(AutoReplyKind, max_length=12, null=True)
    content = fields.TextField()
    sent_at = UTCDatetimeField()

    class Meta:
        table = "messages"
        indexes = (("domain_id", "sent_at", "id"), ("account_id", "id"), ("room_id", "auto_reply_kind", "sent_at"))


class HistoryExport(Model):
    # One background export of the response history; the row is the job's source of truth.
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField("models.Domain", related_name="exports", on_delete=fields.CASCADE)
    requested_by = fields.ForeignKeyField("models.Member", related_name="exports", on_delete=fields.CASCADE)
    status = fields.CharEnumField(ExportStatus, max_length=10, default=ExportStatus.PENDING)
    # = domain_id while PENDING or RUNNING, else NULL: the unique index allows one at a time per domain.
    active_domain_id = fields.IntField(null=True, unique=True)
    format = fields.CharEnumField(ExportFormat, max_length=8)
    csv_encoding = fields.CharEnumField(CsvEncoding, max_length=10)
    account_ids = fields.JSONField(null=True)  # NULL: every account of the domain
    since = UTCDatetimeField(null=True)
    until = UTCDatetimeField(null=True)
    watermark_id = fields.BigIntField()  # messages with a larger id were recorded after the request
    progress = fields.FloatField(default=0)
    total_rows = fields.IntField(null=True)
    row_count = fields.IntField(null=True)
    sha256 = fields.CharField(max_length=64, null=True)
    file_name = fields.CharField(max_length=100, null=True)
    error = fields.TextField(null=True)
    attempt = fields.IntField(default=0)
    lease_until = UTCDatetimeField(null=True)
    created_at = UTCDatetimeField(auto_now_add=True)
    started_at = UTCDatetimeField(null=True)
    finished_at = UTCDatetimeField(null=True)
    expires_at = UTCDatetimeField(null=True)

    class Meta:
        table = "history_exports"
        indexes = (("domain_id", "id"), ("status", "lease_until"))


class AuditEvent(Model):
    # Who did what to which object, from where: every admin and operator mutation and every download.
    id = fields.BigIntField(primary_key=True)
    domain_id = fields.IntField(null=True)  # NULL: no domain could be named (e.g. a refused operator call)
    actor_kind = fields.CharField(max_length=16)  # MEMBER, OPERATOR, DOWNLOAD_LINK
    actor_member_id = fields.IntField(null=True)
    action = fields.CharField(max_length=64)
    target_type = fields.CharField(max_length=32, null=True)
    target_id = fields.BigIntField(null=True)
    changes = fields.JSONField(null=True)
    outcome = fields.CharField(max_length=64)  # OK, or the error codes
    client_address = fields.CharField(max_length=64, null=True)
    created_at = UTCDatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_events"
        indexes = (("domain_id", "id"), ("domain_id", "action", "id"), ("domain_id", "target_type", "target_id"))
