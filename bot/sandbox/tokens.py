"""Self-contained sandbox access tokens that a restarted sandbox can still verify.

A token is a flavor prefix followed by base64url (no padding) of a binary payload and its
HMAC-SHA256 tag. The payload carries the format version, the kind (short-lived or long-lived),
the issue time, a random nonce, the account id and the granted scopes. The key is derived from
the client secret, so every sandbox process with the same secret accepts the same tokens.
The default sandbox client secret is public, so anyone can sign tokens for the fake accounts,
which hold no real data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = [
    "LONG_LIVED_TOKEN_TTL",
    "SHORT_LIVED_TOKEN_TTL",
    "AccessTokenCodec",
    "Flavor",
    "TokenRecord",
]

SHORT_LIVED_TOKEN_TTL = timedelta(hours=1)
LONG_LIVED_TOKEN_TTL = timedelta(days=60)


class Flavor(StrEnum):
    """The API flavor a token belongs to, decided by the scopes that were granted."""

    INSTAGRAM_LOGIN = "instagram_login"
    BASIC_DISPLAY = "basic_display"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """Claims of one access token: owner, flavor, scopes, kind and lifetime."""

    account_id: str
    flavor: Flavor
    scopes: tuple[str, ...]
    long_lived: bool
    issued_at: datetime
    expires_at: datetime
    # Random bytes that make two tokens issued at the same instant distinct.
    nonce: bytes


# Each flavor's tokens start with their own prefix, which is signed with the payload.
_PREFIXES = {Flavor.INSTAGRAM_LOGIN: "IGAA", Flavor.BASIC_DISPLAY: "IGQV"}
_FLAVORS_BY_PREFIX = {prefix: flavor for flavor, prefix in _PREFIXES.items()}
_PREFIX_LENGTH = 4

_FORMAT_VERSION = 1
_LONG_LIVED_FLAG = 0x01
_NONCE_SIZE = 12
# Version, flags, issue time in microseconds since the Unix epoch, nonce.
_HEADER = struct.Struct(f">BBq{_NONCE_SIZE}s")
_TAG_SIZE = hashlib.sha256().digest_size
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode_base64url(text: str) -> bytes | None:
    """Decode unpadded base64url, or return None unless `text` is its canonical encoding."""
    if not _BASE64URL.fullmatch(text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Unused low bits of the last character could otherwise spell one token several ways.
    if _base64url(data) != text:
        return None
    return data


class AccessTokenCodec:
    """Issues access tokens and verifies their HMAC-SHA256 tag without stored state."""

    def __init__(self, client_secret: str) -> None:
        # A fixed label keeps this key apart from other keys derived from the same secret.
        self._key = hmac.new(
            client_secret.encode(), b"sandbox access tokens", hashlib.sha256
        ).digest()

    def issue(
        self,
        *,
        account_id: str,
        flavor: Flavor,
        scopes: tuple[str, ...],
        long_lived: bool,
        issued_at: datetime,
    ) -> tuple[str, TokenRecord]:
        """Return a new token string and the claims it carries."""
        lifetime = LONG_LIVED_TOKEN_TTL if long_lived else SHORT_LIVED_TOKEN_TTL
        record = TokenRecord(
            account_id=account_id,
            flavor=flavor,
            scopes=scopes,
            long_lived=long_lived,
            issued_at=issued_at,
            expires_at=issued_at + lifetime,
            nonce=secrets.token_bytes(_NONCE_SIZE),
        )
        return self.encode(record), record

    def encode(self, record: TokenRecord) -> str:
        """Serialize and sign the claims of `record`."""
        has_separator = " " in record.account_id or any(
            " " in scope or "," in scope for scope in record.scopes
        )
        if has_separator:
            raise ValueError(
                f"account id {record.account_id!r} or scopes {record.scopes!r} contain a space "
                "or comma, which the token payload uses as separators"
            )
        flags = _LONG_LIVED_FLAG if record.long_lived else 0
        issued_at_us = (record.issued_at - _EPOCH) // _MICROSECOND
        payload = _HEADER.pack(_FORMAT_VERSION, flags, issued_at_us, record.nonce)
        payload += f"{record.account_id} {','.join(record.scopes)}".encode("ascii")
        prefix = _PREFIXES[record.flavor]
        return prefix + _base64url(payload + self._tag(prefix, payload))

    def decode(self, token: str) -> TokenRecord | None:
        """Return the claims of a token signed with this key, or None for any other string.

        Expiry and revocation are not checked here.
        """
        flavor = _FLAVORS_BY_PREFIX.get(token[:_PREFIX_LENGTH])
        data = _decode_base64url(token[_PREFIX_LENGTH:])
        if flavor is None or data is None or len(data) < _HEADER.size + _TAG_SIZE:
            return None
        payload, tag = data[:-_TAG_SIZE], data[-_TAG_SIZE:]
        if not hmac.compare_digest(tag, self._tag(token[:_PREFIX_LENGTH], payload)):
            return None

        version, flags, issued_at_us, nonce = _HEADER.unpack_from(payload)
        if version != _FORMAT_VERSION:
            return None
        try:
            claims = payload[_HEADER.size :].decode("ascii")
        except UnicodeDecodeError:
            return None
        account_id, _, raw_scopes = claims.partition(" ")
        long_lived = bool(flags & _LONG_LIVED_FLAG)
        issued_at = _EPOCH + issued_at_us * _MICROSECOND
        lifetime = LONG_LIVED_TOKEN_TTL if long_lived else SHORT_LIVED_TOKEN_TTL
        return TokenRecord(
            account_id=account_id,
            flavor=flavor,
            scopes=tuple(scope for scope in raw_scopes.split(",") if scope),
            long_lived=long_lived,
            issued_at=issued_at,
            expires_at=issued_at + lifetime,
            nonce=nonce,
        )

    def _tag(self, prefix: str, payload: bytes) -> bytes:
        # The prefix is signed too, so a token cannot be moved to the other flavor.
        return hmac.new(self._key, prefix.encode("ascii") + payload, hashlib.sha256).digest()
