"""HMAC signatures that the sandbox issues: Meta's `signed_request` and media URL hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

__all__ = ["build_signed_request", "media_signature", "verify_media_signature"]


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def build_signed_request(payload: dict[str, Any], secret: str) -> str:
    """Encode `payload` as Meta does: base64url(HMAC-SHA256 of the encoded payload).payload."""
    encoded_payload = _base64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), encoded_payload.encode(), hashlib.sha256).digest()
    return f"{_base64url(signature)}.{encoded_payload}"


def media_signature(key: bytes, path: str, expires: int) -> str:
    """Return the URL hash that binds a media path to its expiry time (Unix seconds)."""
    message = f"{path}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def verify_media_signature(key: bytes, path: str, expires: int, signature: str) -> bool:
    """Check a media URL hash in constant time."""
    return hmac.compare_digest(media_signature(key, path, expires), signature)
