"""Tortoise models: the database is the source of truth for every rule and every job."""
from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model


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


class Domain(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "domains"


class Member(Model):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField("models.Domain", related_name="members", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    email = fields.CharField(max_length=254)
    email_key = fields.CharField(max_length=254)  # casefolded, for uniqueness and search
    role = fields.CharEnumField(Role, max_length=10, default=Role.MEMBER)
    created_at = fields.DatetimeField(auto_now_add=True)

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
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "api_tokens"


class Product(Model):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField("models.Domain", related_name="products", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    responder_limit = fields.IntField()
    quantity = fields.IntField()
    in_use = fields.IntField(default=0)  # ACTIVE accounts on this product; changed only by conditional UPDATEs
    created_at = fields.DatetimeField(auto_now_add=True)

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
    started_on = fields.DateField()
    status = fields.CharEnumField(AccountStatus, max_length=10, default=AccountStatus.ACTIVE)
    responder_count = fields.IntField(default=0)  # changed only by conditional UPDATEs
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "window_accounts"
        unique_together = (("domain", "name_key"),)
        indexes = (("domain_id", "status", "id"),)


class Responder(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.WindowAccount", related_name="responders", on_delete=fields.CASCADE)
    member = fields.ForeignKeyField("models.Member", related_name="responder_of", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "responders"
        unique_together = (("account", "member"),)
