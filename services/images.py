"""Account images: strict PNG checks, then storage under a server-chosen name."""
from __future__ import annotations

import io
import os
import re
import secrets
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from services.errors import BusinessError, ErrorCode

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # the image must be strictly smaller than 10 MiB
MAX_IMAGE_PIXELS = 25_000_000  # decompression-bomb guard: a 5000x5000 logo is more than enough
FILE_NAME_RE = re.compile(r"[a-z0-9]+\.png")
STORED_NAME_RE = re.compile(r"[A-Za-z0-9_-]{16,64}\.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KNOWN_CRITICAL_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def _invalid(message: str, field: str) -> BusinessError:
    return BusinessError.one(ErrorCode.IMAGE_INVALID, field, message)


def _size_of(stream: BinaryIO) -> int:
    position = stream.tell()
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(position)
    return size


def _chunks_are_sound(data: bytes) -> bool:
    """Every chunk up to IEND is complete with a correct CRC, IHDR first, no unknown critical chunk.

    Pillow never checks the CRC of IEND and skips unknown critical chunks, which a PNG decoder
    must refuse (PNG spec 5.4); walking the chunk layout closes both gaps.
    """
    pos = len(PNG_SIGNATURE)
    first = True
    while True:
        if pos + 12 > len(data):
            return False
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(data) or not kind.isalpha():
            return False
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack(">I", data[end - 4:end])[0]:
            return False
        if first and kind != b"IHDR":
            return False
        if kind[0:1].isupper() and kind not in KNOWN_CRITICAL_CHUNKS:
            return False
        if kind == b"IEND":
            return True
        first = False
        pos = end


def read_checked_png(filename: str | None, stream: BinaryIO, field: str = "image") -> bytes:
    """Return the bytes of an acceptable PNG or raise IMAGE_TOO_LARGE / IMAGE_INVALID.

    The size is checked before the content is read into memory.
    """
    if _size_of(stream) >= MAX_IMAGE_BYTES:
        raise BusinessError.one(ErrorCode.IMAGE_TOO_LARGE, field, "The image must be smaller than 10 MB.")
    if not filename or not FILE_NAME_RE.fullmatch(filename):
        raise _invalid("The file name must be lowercase letters a–z and digits followed by .png.", field)
    stream.seek(0)
    data = stream.read(MAX_IMAGE_BYTES)
    if not data.startswith(PNG_SIGNATURE):
        raise _invalid("The file is not a PNG image.", field)
    if not _chunks_are_sound(data):
        raise _invalid("The file is not a valid PNG image.", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise _invalid("The image has too many pixels.", field)
                img.verify()  # chunk CRCs and structure
            with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
                img.load()  # full decode: truncated or corrupt data fails here
    except BusinessError:
        raise
    except (Exception, Image.DecompressionBombWarning) as exc:  # Pillow raises many types for bad files
        raise _invalid("The file is not a valid PNG image.", field) from exc
    return data


def store_image(images_dir: Path, data: bytes) -> str:
    """Write atomically under a random name; returns the stored name."""
    images_dir.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(18)}.png"
    tmp = images_dir / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, images_dir / name)
    return name


def delete_image(images_dir: Path, name: str | None) -> None:
    if name and STORED_NAME_RE.fullmatch(name):
        (images_dir / name).unlink(missing_ok=True)


def stored_image_path(images_dir: Path, name: str) -> Path | None:
    """The path of a stored image, or None for names the server never chose."""
    if not STORED_NAME_RE.fullmatch(name):
        return None
    path = images_dir / name
    return path if path.is_file() else None
