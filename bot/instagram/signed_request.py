"""The `signed_request` of Meta's deauthorize and data deletion callbacks.

Format: `base64url(HMAC-SHA256(app_secret, payload_b64)) + "." + payload_b64`, where
`payload_b64` is the base64url form of a JSON object, both without `=` padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["InvalidSignedRequest", "SignedRequest", "build_signed_request", "parse_signed_request"]

ALGORITHM = "HMAC-SHA256"

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class InvalidSignedRequest(ValueError):
    """The signed request is malformed, has a wrong signature or an unsupported algorithm."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A verified signed request; `user_id` is the app-scoped Instagram user id."""

    user_id: str
    algorithm: str
    issued_at: int | None
    payload: dict[str, Any]


def parse_signed_request(raw: str, secret: str) -> SignedRequest:
    """Verify `raw` with the app secret and return its payload.

    Raises:
        InvalidSignedRequest: the value is malformed, the signature does not match, the
            algorithm is not HMAC-SHA256, or `user_id` is missing.
        ValueError: `secret` is empty.
    """
    if not secret:
        raise ValueError("the app secret is empty, so no signed request can be verified")
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidSignedRequest("signed_request is missing or empty")

    encoded_signature, dot, encoded_payload = raw.strip().partition(".")
    if not dot or not encoded_signature or not encoded_payload:
        raise InvalidSignedRequest("signed_request must be two base64url parts joined by a dot")

    signature = _decode_base64url(encoded_signature, "signature")
    payload_bytes = _decode_base64url(encoded_payload, "payload")
    # The signature covers the encoded payload exactly as sent; verify it before parsing JSON.
    expected = hmac.new(
        secret.encode("utf-8"), encoded_payload.encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidSignedRequest("signed_request signature does not match the app secret")

    payload = _parse_payload(payload_bytes)
    algorithm = payload.get("algorithm")
    if not isinstance(algorithm, str) or algorithm.upper() != ALGORITHM:
        raise InvalidSignedRequest(f"signed_request algorithm must be {ALGORITHM}")

    return SignedRequest(
        user_id=_user_id(payload),
        algorithm=algorithm,
        issued_at=_issued_at(payload),
        payload=payload,
    )


def build_signed_request(payload: dict[str, Any], secret: str) -> str:
    """Sign `payload` the way Meta does; `algorithm` defaults to HMAC-SHA256."""
    if not secret:
        raise ValueError("the app secret is empty, so the request cannot be signed")

    body = {"algorithm": ALGORITHM, **payload}
    encoded_payload = _encode_base64url(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    signature = hmac.new(
        secret.encode("utf-8"), encoded_payload.encode("ascii"), hashlib.sha256
    ).digest()
    return f"{_encode_base64url(signature)}.{encoded_payload}"


def _encode_base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode_base64url(text: str, part: str) -> bytes:
    # Meta omits the padding; tolerate it anyway, but reject every other character, which
    # the standard decoder would otherwise skip silently.
    unpadded = text.rstrip("=")
    if not _BASE64URL.fullmatch(unpadded) or len(unpadded) % 4 == 1:
        raise InvalidSignedRequest(f"signed_request {part} is not valid base64url")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSignedRequest(f"signed_request {part} is not valid base64url") from None


def _parse_payload(data: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidSignedRequest("signed_request payload is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidSignedRequest("signed_request payload is not a JSON object")
    return payload


def _user_id(payload: dict[str, Any]) -> str:
    value = payload.get("user_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise InvalidSignedRequest("signed_request payload has no user_id string")


def _issued_at(payload: dict[str, Any]) -> int | None:
    value = payload.get("issued_at")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise InvalidSignedRequest("signed_request issued_at is not a Unix time in seconds")
