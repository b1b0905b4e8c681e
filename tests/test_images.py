"""Account images: upload checks (name, content, size, bombs), storage, serving, replacing, removing."""
from __future__ import annotations

import io
import os
import re
import struct
import zlib

import pytest
from PIL import Image

from cxtalk.config import get_settings
from models import AccountStatus, WindowAccount
from schema.ids import decode
from tests.support import CREATE_ACCOUNT, UPDATE_ACCOUNT

MAX_BYTES = 10 * 1024 * 1024  # 10,485,760: the image must be strictly smaller
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_URL_RE = re.compile(r"http://testserver/images/([^/?#]+)")

STATE = """{ windowAccounts { totalCount } productUsage { accountsInUse products { id accountsInUse } } }"""


# --- building PNGs -------------------------------------------------------------------------

def make_png(width: int = 48, height: int = 32, seed: int = 0) -> bytes:
    """A real PNG with noisy pixels (so IDAT is not tiny); `seed` makes distinct images."""
    pixels = bytes((i * 7 + seed * 31 + (i * i) % 251) % 256 for i in range(width * height * 3))
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, format="PNG")
    return out.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunk_layout(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset of the length field, body length) of each chunk."""
    assert data.startswith(PNG_SIGNATURE)
    pos, out = len(PNG_SIGNATURE), []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        out.append((data[pos + 4:pos + 8], pos, length))
        pos += 12 + length
    assert pos == len(data)
    return out


def png_of_exact_size(total: int) -> bytes:
    """A valid PNG of exactly `total` bytes: a private ancillary chunk (`prVt`) before IEND."""
    base = make_png()
    iend = chunk(b"IEND", b"")
    assert base.endswith(iend)
    padding = total - len(base) - 12
    assert padding >= 0
    data = base[:-len(iend)] + chunk(b"prVt", b"\0" * padding) + iend
    assert len(data) == total
    return data


def corrupt_crc(data: bytes, kind: bytes) -> bytes:
    (_, pos, length), = [c for c in chunk_layout(data) if c[0] == kind]
    broken = bytearray(data)
    broken[pos + 8 + length] ^= 0xFF  # first byte of the CRC
    return bytes(broken)


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit greyscale all-black PNG declaring width x height, built row by row with zlib so
    the pixels never sit in memory: tens of kilobytes that decode to hundreds of megapixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


# --- helpers ---------------------------------------------------------------------------------

def images_on_disk() -> set[str]:
    """Every entry of the images directory, hidden temporary files included."""
    images_dir = get_settings().images_dir
    return set(os.listdir(images_dir)) if images_dir.exists() else set()


def stored_name(image_url: str) -> str:
    match = IMAGE_URL_RE.fullmatch(image_url)
    assert match, image_url
    return match.group(1)


async def state(world) -> dict:
    data = await world.api.data(STATE, token=world.admin)
    return {"accounts": data["windowAccounts"]["totalCount"],
            "inUse": data["productUsage"]["accountsInUse"],
            "products": data["productUsage"]["products"],
            "files": images_on_disk()}


async def create_with_image(world, filename: str, content: bytes, name: str = "Support", handle: str = "support",
                            content_type: str = "image/png") -> dict:
    variables = {"input": {"productId": world.product_id, "name": name, "handle": handle,
                           "responderIds": world.member_ids[:1], "image": None}}
    data = await world.api.data(CREATE_ACCOUNT, variables, token=world.admin,
                                files={"variables.input.image": (filename, content, content_type)})
    return data["createWindowAccount"]


async def update_with_image(world, account_id: str, filename: str, content: bytes, **extra) -> dict:
    variables = {"input": {"id": account_id, "image": None, **extra}}
    data = await world.api.data(UPDATE_ACCOUNT, variables, token=world.admin,
                                files={"variables.input.image": (filename, content, "image/png")})
    return data["updateWindowAccount"]


async def get_image(world, image_url: str):
    return await world.api.client.get(image_url)


def errors_of(payload: dict) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


# --- create with a valid image -------------------------------------------------------------

async def test_create_with_png_stores_and_serves_it(world):
    png = make_png()
    before = images_on_disk()
    payload = await create_with_image(world, "logo2.png", png)
    assert payload["errors"] == []
    account = payload["windowAccount"]
    assert account["imageUrl"] is not None
    name = stored_name(account["imageUrl"])
    assert name != "logo2.png" and "logo2" not in name  # server-chosen, not the upload's name
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}\.png", name), name
    assert images_on_disk() - before == {name}
    assert (get_settings().images_dir / name).read_bytes() == png

    response = await get_image(world, account["imageUrl"])
    assert response.status_code == 200
    assert response.content == png
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"

    # the same file name uploaded again gets a different stored name
    again = await create_with_image(world, "logo2.png", png, name="Sales", handle="sales")
    assert again["errors"] == []
    assert stored_name(again["windowAccount"]["imageUrl"]) != name


async def test_create_without_image_has_no_image_url(world):
    account = await world.account()
    assert account["imageUrl"] is None


# --- refusals: exact code, field "image", nothing written -----------------------------------

async def assert_refused_on_create(world, filename: str, content: bytes, code: str) -> None:
    before = await state(world)
    payload = await create_with_image(world, filename, content)
    assert payload["windowAccount"] is None
    assert errors_of(payload) == [("image", code)], payload["errors"]
    assert await state(world) == before  # no account, no unit taken, no file
    assert await WindowAccount.filter(handle="support").count() == 0


@pytest.mark.parametrize("filename", ["Logo.png", "my-logo.png", "logo.PNG", "logo.jpg", ".png", "logo.png.png",
                                      "logo .png", "logo", "ｌｏｇｏ.png", "../logo.png"])
async def test_file_name_rules(world, filename):
    await assert_refused_on_create(world, filename, make_png(), "IMAGE_INVALID")


@pytest.mark.parametrize("filename", ["logo.png", "logo2.png", "2024.png", "a.png"])
async def test_accepted_file_names(world, filename):
    payload = await create_with_image(world, filename, make_png())
    assert payload["errors"] == []
    assert payload["windowAccount"]["imageUrl"] is not None


async def test_jpeg_renamed_to_png_is_refused(world):
    await assert_refused_on_create(world, "logo.png", jpeg_bytes(), "IMAGE_INVALID")


async def test_truncated_png_is_refused(world):
    png = make_png()
    await assert_refused_on_create(world, "logo.png", png[:len(png) // 2], "IMAGE_INVALID")


async def test_png_without_iend_is_refused(world):
    png = make_png()
    assert png.endswith(chunk(b"IEND", b""))
    await assert_refused_on_create(world, "logo.png", png[:-12], "IMAGE_INVALID")


@pytest.mark.parametrize("kind", [b"IHDR", b"IDAT", b"IEND"])
async def test_corrupted_chunk_crc_is_refused(world, kind):
    await assert_refused_on_create(world, "logo.png", corrupt_crc(make_png(), kind), "IMAGE_INVALID")


async def test_corrupted_crc_of_an_ancillary_chunk_is_refused(world):
    png = png_of_exact_size(len(make_png()) + 12 + 100)
    await assert_refused_on_create(world, "logo.png", corrupt_crc(png, b"prVt"), "IMAGE_INVALID")


async def test_unknown_critical_chunk_is_refused(world):
    png = make_png()
    iend = chunk(b"IEND", b"")
    await assert_refused_on_create(world, "logo.png", png[:-12] + chunk(b"ZZZZ", b"x") + iend, "IMAGE_INVALID")


async def test_random_bytes_with_png_signature_are_refused(world):
    junk = PNG_SIGNATURE + bytes((i * 97 + 13) % 256 for i in range(4096))
    await assert_refused_on_create(world, "logo.png", junk, "IMAGE_INVALID")


async def test_empty_file_is_refused(world):
    await assert_refused_on_create(world, "logo.png", b"", "IMAGE_INVALID")


@pytest.mark.parametrize("size", [(20000, 20000), (10000, 10000)])
async def test_decompression_bomb_is_refused(world, size):
    bomb = bomb_png(*size)
    assert len(bomb) < 100_000  # small in bytes ...
    sane = bomb_png(64, 64)  # ... and the same construction at a sane size is a valid, accepted PNG
    accepted = await create_with_image(world, "logo.png", sane, name="Sane", handle="sane")
    assert accepted["errors"] == []
    await assert_refused_on_create(world, "logo.png", bomb, "IMAGE_INVALID")


async def test_size_boundary(world):
    too_large = png_of_exact_size(MAX_BYTES)  # exactly 10 MiB: refused
    await assert_refused_on_create(world, "logo.png", too_large, "IMAGE_TOO_LARGE")

    just_under = png_of_exact_size(MAX_BYTES - 1)  # one byte less, same construction: accepted
    payload = await create_with_image(world, "logo.png", just_under)
    assert payload["errors"] == []
    response = await get_image(world, payload["windowAccount"]["imageUrl"])
    assert response.status_code == 200
    assert response.content == just_under


async def test_too_large_wins_over_other_problems_without_reading_content(world):
    await assert_refused_on_create(world, "logo.png", b"\0" * (MAX_BYTES + 1), "IMAGE_TOO_LARGE")


async def test_image_error_is_reported_with_other_field_errors(world):
    before = await state(world)
    variables = {"input": {"productId": world.product_id, "name": "Support", "handle": "Bad Handle",
                           "responderIds": world.member_ids[:1], "image": None}}
    data = await world.api.data(CREATE_ACCOUNT, variables, token=world.admin,
                                files={"variables.input.image": ("Logo.png", make_png(), "image/png")})
    payload = data["createWindowAccount"]
    assert payload["windowAccount"] is None
    assert set(errors_of(payload)) == {("handle", "HANDLE_INVALID"), ("image", "IMAGE_INVALID")}
    assert await state(world) == before


# --- update: replace, refuse, remove -------------------------------------------------------

async def test_replacing_the_image_deletes_the_old_file(world):
    first_png, second_png = make_png(seed=1), make_png(seed=2)
    account = (await create_with_image(world, "logo.png", first_png))["windowAccount"]
    old_url = account["imageUrl"]
    old_name = stored_name(old_url)

    payload = await update_with_image(world, account["id"], "logo.png", second_png)
    assert payload["errors"] == []
    new_url = payload["windowAccount"]["imageUrl"]
    assert new_url is not None and new_url != old_url
    new_name = stored_name(new_url)

    files = images_on_disk()
    assert old_name not in files and new_name in files
    assert (await get_image(world, old_url)).status_code == 404
    response = await get_image(world, new_url)
    assert response.status_code == 200 and response.content == second_png

    query = "query($id: ID!) { windowAccount(id: $id) { imageUrl } }"
    data = await world.api.data(query, {"id": account["id"]}, token=world.admin)
    assert data["windowAccount"]["imageUrl"] == new_url


@pytest.mark.parametrize("filename,content,code", [
    ("Logo.png", make_png(seed=3), "IMAGE_INVALID"),
    ("logo.png", jpeg_bytes(), "IMAGE_INVALID"),
    ("logo.png", bomb_png(20000, 20000), "IMAGE_INVALID"),
    ("logo.png", png_of_exact_size(MAX_BYTES), "IMAGE_TOO_LARGE"),
])
async def test_refused_upload_on_update_keeps_the_previous_image(world, filename, content, code):
    png = make_png(seed=4)
    account = (await create_with_image(world, "logo.png", png))["windowAccount"]
    before = images_on_disk()

    payload = await update_with_image(world, account["id"], filename, content, name="Renamed")
    assert payload["windowAccount"] is None
    assert errors_of(payload) == [("image", code)]
    assert images_on_disk() == before

    query = "query($id: ID!) { windowAccount(id: $id) { name imageUrl } }"
    data = await world.api.data(query, {"id": account["id"]}, token=world.admin)
    assert data["windowAccount"] == {"name": "Support", "imageUrl": account["imageUrl"]}  # nothing written
    response = await get_image(world, account["imageUrl"])
    assert response.status_code == 200 and response.content == png


async def test_remove_image_clears_it_and_deletes_the_file(world):
    account = (await create_with_image(world, "logo.png", make_png()))["windowAccount"]
    name = stored_name(account["imageUrl"])

    payload = await world.mutate(UPDATE_ACCOUNT, {"id": account["id"], "removeImage": True})
    assert payload["errors"] == []
    assert payload["windowAccount"]["imageUrl"] is None
    assert name not in images_on_disk()
    assert (await get_image(world, account["imageUrl"])).status_code == 404


async def test_update_without_image_keeps_it(world):
    account = (await create_with_image(world, "logo.png", make_png()))["windowAccount"]
    payload = await world.mutate(UPDATE_ACCOUNT, {"id": account["id"], "name": "Renamed"})
    assert payload["errors"] == []
    assert payload["windowAccount"]["imageUrl"] == account["imageUrl"]
    assert (await get_image(world, account["imageUrl"])).status_code == 200


async def test_image_and_remove_image_together_are_invalid(world):
    png = make_png(seed=5)
    account = (await create_with_image(world, "logo.png", png))["windowAccount"]
    before = images_on_disk()

    payload = await update_with_image(world, account["id"], "logo.png", make_png(seed=6), removeImage=True)
    assert payload["windowAccount"] is None
    assert errors_of(payload) == [("removeImage", "INVALID")]
    assert images_on_disk() == before
    response = await get_image(world, account["imageUrl"])
    assert response.status_code == 200 and response.content == png


async def test_image_upload_to_an_account_that_is_not_active_leaves_no_file(world):
    account = (await create_with_image(world, "logo.png", make_png()))["windowAccount"]
    await WindowAccount.filter(id=decode(account["id"], "WindowAccount")).update(status=AccountStatus.RESETTING)
    before = images_on_disk()

    payload = await update_with_image(world, account["id"], "logo.png", make_png(seed=7))
    assert payload["windowAccount"] is None
    assert errors_of(payload) == [("id", "ACCOUNT_NOT_ACTIVE")]
    assert images_on_disk() == before  # the new file stored before the write was removed again
    assert (await get_image(world, account["imageUrl"])).status_code == 200


# --- serving -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/images/..%2F..%2Fetc%2Fpasswd",
    "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/images/..",
    "/images/%2e%2e",
    "/images/passwd",
    "/images/logo.png",
    "/images/AAAAAAAAAAAAAAAAAAAAAAAA.png",  # well-formed but never stored
    "/images/",
])
async def test_unknown_or_traversal_names_are_404(world, path):
    response = await world.api.client.get(path)
    assert response.status_code == 404


async def test_temporary_and_foreign_files_in_the_images_dir_are_not_served(world):
    account = (await create_with_image(world, "logo.png", make_png()))["windowAccount"]
    name = stored_name(account["imageUrl"])
    images_dir = get_settings().images_dir
    tmp = images_dir / f".{name}.tmp"
    tmp.write_bytes(b"partial")
    try:
        for path in (f"/images/.{name}.tmp", f"/images/{name}.tmp", f"/images/{name[:-4]}"):
            assert (await world.api.client.get(path)).status_code == 404, path
    finally:
        tmp.unlink()
