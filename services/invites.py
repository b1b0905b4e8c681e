"""Invite links and their QR codes."""
from __future__ import annotations

import io
import re
import secrets

import qrcode

from models import AccountStatus, WindowAccount

# What new_invite_token can produce (URL-safe base64), with room for longer tokens. Anything else
# is refused before the query: a NUL byte, say, makes PostgreSQL fail instead of finding nothing.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_invite_token() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits: unguessable


def invite_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url}/invite/{token}"


def qr_code_url(public_base_url: str, token: str) -> str:
    return f"{invite_url(public_base_url, token)}/qr.png"


def qr_png(url: str) -> bytes:
    """A PNG that encodes exactly `url`."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out, format="PNG")
    return out.getvalue()


async def active_account_by_invite(token: str) -> WindowAccount | None:
    if not TOKEN_RE.fullmatch(token):
        return None
    return await WindowAccount.filter(invite_token=token, status=AccountStatus.ACTIVE).first()
