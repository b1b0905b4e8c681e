"""Invite links and QR codes: form of the URL, the public JSON, the QR PNG, and 404s."""
from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image

from models import AccountStatus, WindowAccount
from schema.ids import decode
from tests.support import CREATE_ACCOUNT, UPDATE_ACCOUNT
from tests.test_images import make_png

INVITE_URL_RE = re.compile(r"http://testserver/invite/([A-Za-z0-9_-]+)")


def token_of(account: dict) -> str:
    match = INVITE_URL_RE.fullmatch(account["inviteUrl"])
    assert match, account["inviteUrl"]
    return match.group(1)


def decode_qr(png: bytes) -> list[str]:
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        results = zxingcpp.read_barcodes(img.convert("L"))
    assert all(r.format == zxingcpp.BarcodeFormat.QRCode for r in results)
    return [r.text for r in results]


async def set_status(account: dict, status: AccountStatus) -> None:
    changed = await WindowAccount.filter(id=decode(account["id"], "WindowAccount")).update(status=status)
    assert changed == 1


async def assert_both_404(world, token: str) -> None:
    client = world.api.client
    assert (await client.get(f"/invite/{token}")).status_code == 404
    assert (await client.get(f"/invite/{token}/qr.png")).status_code == 404


# --- the invite URL -------------------------------------------------------------------------

async def test_invite_url_form_and_token(world):
    first = await world.account(name="Support", handle="support")
    second = await world.account(name="Sales", handle="sales")
    tokens = [token_of(first), token_of(second)]
    for account, token in zip((first, second), tokens):
        assert len(token) >= 32
        assert account["handle"] not in token
        assert account["inviteUrl"] == f"http://testserver/invite/{token}"
        assert account["qrCodeUrl"] == account["inviteUrl"] + "/qr.png"
    assert tokens[0] != tokens[1]
    assert len(set(tokens[0])) >= 12  # not a padded or repeated string


async def test_invite_url_never_changes(world):
    account = await world.account()
    payload = await world.mutate(UPDATE_ACCOUNT, {"id": account["id"], "name": "Renamed", "description": "New"})
    assert payload["errors"] == []
    assert payload["windowAccount"]["inviteUrl"] == account["inviteUrl"]
    assert payload["windowAccount"]["qrCodeUrl"] == account["qrCodeUrl"]
    query = "query($id: ID!) { windowAccount(id: $id) { inviteUrl qrCodeUrl } }"
    data = await world.api.data(query, {"id": account["id"]}, token=world.admin)
    assert data["windowAccount"] == {"inviteUrl": account["inviteUrl"], "qrCodeUrl": account["qrCodeUrl"]}


# --- GET /invite/{token} ------------------------------------------------------------------

async def test_invite_json_of_an_account_without_image(world):
    account = await world.account(name="Support", handle="support")
    response = await world.api.client.get(f"/invite/{token_of(account)}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"name": "Support", "handle": "support", "description": None, "imageUrl": None}


async def test_invite_json_of_an_account_with_description_and_image(world):
    variables = {"input": {"productId": world.product_id, "name": "Ｓｕｐｐｏｒｔ Desk", "handle": "desk1",
                           "description": "We answer within a day.", "responderIds": world.member_ids[:1],
                           "image": None}}
    png = make_png()
    data = await world.api.data(CREATE_ACCOUNT, variables, token=world.admin,
                                files={"variables.input.image": ("logo.png", png, "image/png")})
    payload = data["createWindowAccount"]
    assert payload["errors"] == []
    account = payload["windowAccount"]
    assert account["imageUrl"]

    response = await world.api.client.get(account["inviteUrl"])
    assert response.status_code == 200
    assert response.json() == {"name": "Ｓｕｐｐｏｒｔ Desk", "handle": "desk1",
                               "description": "We answer within a day.", "imageUrl": account["imageUrl"]}
    image = await world.api.client.get(response.json()["imageUrl"])
    assert image.status_code == 200 and image.content == png


async def test_invite_json_follows_changes(world):
    account = await world.account()
    payload = await world.mutate(UPDATE_ACCOUNT, {"id": account["id"], "name": "Renamed", "description": "Hi"})
    assert payload["errors"] == []
    response = await world.api.client.get(account["inviteUrl"])
    assert response.json() == {"name": "Renamed", "handle": "support", "description": "Hi", "imageUrl": None}


# --- GET /invite/{token}/qr.png -----------------------------------------------------------

async def test_qr_png_encodes_exactly_the_invite_url(world):
    first = await world.account(name="Support", handle="support")
    second = await world.account(name="Sales", handle="sales")
    for account in (first, second):
        response = await world.api.client.get(account["qrCodeUrl"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert decode_qr(response.content) == [account["inviteUrl"]]


# --- 404s ----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["unknown", "A" * 32, "A" * 65, "x" * 500, "%00", "abc%00def", "%C3%A9", "..",
                                   "qr.png"])
async def test_unknown_token_is_404(world, token):
    await world.account()
    await assert_both_404(world, token)


async def test_token_must_match_exactly(world):
    account = await world.account()
    token = token_of(account)
    assert (await world.api.client.get(f"/invite/{token}")).status_code == 200
    swapped = token.swapcase()
    if swapped != token:  # a token is case-sensitive
        await assert_both_404(world, swapped)
    for variant in (token[:-1], token + "A", token.upper() if token.upper() != token else token + "a", f" {token}"):
        await assert_both_404(world, variant)


@pytest.mark.parametrize("status", [AccountStatus.RESETTING, AccountStatus.RESET])
async def test_account_that_is_not_active_is_404(world, status):
    account = await world.account()
    other = await world.account(name="Sales", handle="sales")
    token = token_of(account)
    client = world.api.client
    assert (await client.get(f"/invite/{token}")).status_code == 200
    assert (await client.get(f"/invite/{token}/qr.png")).status_code == 200

    await set_status(account, status)
    await assert_both_404(world, token)
    # the other account is untouched
    assert (await client.get(other["inviteUrl"])).status_code == 200
    assert (await client.get(other["qrCodeUrl"])).status_code == 200


async def test_qr_code_is_not_cached(world):
    """Once the account is reset the QR code must stop working at once, so no cache may keep it."""
    account = await world.account()
    response = await world.api.client.get(account["qrCodeUrl"])
    assert response.status_code == 200
    assert "no-store" in response.headers.get("cache-control", "")
