"""Invite links and their QR codes."""
from __future__ import annotations

import io
import secrets

import qrcode

from models import AccountStatus, WindowAccount


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
    if len(token) > 64:
        return None
    return await WindowAccount.filter(invite_token=token, status=AccountStatus.ACTIVE).first()
