"""Files that the fake Bot API stores: uploads, downloads by URL, and their file_ids."""

from __future__ import annotations

import ipaddress
import itertools
import secrets
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

__all__ = ["FileStore", "StoredFile", "image_size", "is_loopback_http_url"]

# Extensions for file_path values, keyed by MIME type.
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "application/pdf": "pdf",
}


@dataclass(frozen=True)
class StoredFile:
    """One file the fake server holds, with the ids a bot uses to send it again."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    mime_type: str
    file_name: str | None
    file_path: str
    dimensions: tuple[int, int] = (0, 0)

    @property
    def file_size(self) -> int:
        """Size of the file in bytes."""
        return len(self.data)


class FileStore:
    """File records keyed by file_id, created from uploads and URL downloads."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def add(
        self,
        kind: str,
        data: bytes,
        mime_type: str,
        file_name: str | None = None,
        dimensions: tuple[int, int] = (0, 0),
    ) -> StoredFile:
        """Store bytes as a new file of the given kind (photo, video, document)."""
        number = next(self._counter)
        extension = _EXTENSIONS.get(mime_type, "bin")
        stored = StoredFile(
            file_id=f"{_kind_prefix(kind)}{number:05d}{secrets.token_urlsafe(18)}",
            file_unique_id=f"U{number:05d}{secrets.token_hex(4)}",
            kind=kind,
            data=data,
            mime_type=mime_type,
            file_name=file_name,
            file_path=f"{kind}s/file_{number}.{extension}",
            dimensions=dimensions,
        )
        self._files[stored.file_id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """Return the file with that file_id, or None."""
        return self._files.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        """Return the file with that file_path, or None."""
        for stored in self._files.values():
            if stored.file_path == file_path:
                return stored
        return None


def _kind_prefix(kind: str) -> str:
    # Real file_ids start with a short type marker, so ids of different kinds never collide.
    return {"photo": "AgAC", "video": "BAAC", "document": "BQAC"}.get(kind, "CAAC")


def is_loopback_http_url(url: str) -> bool:
    """Return whether url is an http(s) URL whose host is a loopback address."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


async def download(
    session: aiohttp.ClientSession, url: str, max_bytes: int
) -> tuple[bytes, str] | None:
    """Fetch a loopback URL and return its bytes and MIME type, or None when it fails.

    Any non-loopback URL counts as unfetchable, so the fake never reaches another host.
    """
    if not is_loopback_http_url(url):
        return None
    try:
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                return None
            data = await response.content.read(max_bytes + 1)
            mime_type = response.content_type
    except (aiohttp.ClientError, TimeoutError):
        return None
    if len(data) > max_bytes:
        return None
    return data, mime_type


def image_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) of a PNG, GIF or JPEG image, or None for other data."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    # Walk the JPEG segments until a start-of-frame marker, which holds height then width.
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        (segment_length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + segment_length
    return None
