"""Mutable state of one sandbox: accounts, codes, revocations, injected faults and counters."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock, utc_now
from bot.sandbox.content import SandboxAccount, SandboxMedia, SandboxMediaType, build_accounts
from bot.sandbox.signing import build_signed_request
from bot.sandbox.tokens import (
    LONG_LIVED_TOKEN_TTL,
    SHORT_LIVED_TOKEN_TTL,
    AccessTokenCodec,
    Flavor,
    TokenRecord,
)

__all__ = [
    "AUTHORIZATION_CODE_TTL",
    "LONG_LIVED_TOKEN_TTL",
    "REFRESH_MIN_AGE",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SHORT_LIVED_TOKEN_TTL",
    "AuthorizationCode",
    "CodeExchangeError",
    "Flavor",
    "GraphError",
    "SandboxState",
    "TokenRecord",
]

# Fake, public credentials. The sandbox accepts no others unless the caller passes its own.
SANDBOX_CLIENT_ID = "sandbox-app-id"
SANDBOX_CLIENT_SECRET = "sandbox-app-secret"

AUTHORIZATION_CODE_TTL = timedelta(hours=1)
REFRESH_MIN_AGE = timedelta(hours=24)

INSTAGRAM_LOGIN_SCOPES = frozenset(
    {
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",
        "instagram_business_manage_insights",
        "instagram_business_manage_messages",
    }
)
BASIC_DISPLAY_SCOPES = frozenset({"user_profile", "user_media"})


class CodeExchangeError(Exception):
    """A failed code exchange, returned in the flat `error_type` shape with HTTP 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GraphError(Exception):
    """A failed Graph call, returned in the `{"error": {...}}` shape."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        subcode: int | None = None,
        status: int = 400,
        error_type: str = "OAuthException",
        headers: dict[str, str] | None = None,
        is_transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.status = status
        self.error_type = error_type
        self.headers = headers or {}
        self.is_transient = is_transient

    def body(self, trace_id: str) -> dict[str, Any]:
        """Return the JSON body the Graph API sends for this error."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error["fbtrace_id"] = trace_id
        return {"error": error}


@dataclass(slots=True)
class AuthorizationCode:
    """A code issued by the authorize page; single use, valid for one hour."""

    account_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    flavor: Flavor
    issued_at: datetime


@dataclass(slots=True)
class _Revocation:
    """Marker that rejects every token of an account issued at or before `revoked_at`."""

    revoked_at: datetime
    # Nonces of tokens issued after the revocation at the same sandbox time (possible with a
    # frozen test clock), which stay valid.
    issued_after: set[bytes] = field(default_factory=set)


def flavor_for_scopes(scopes: Sequence[str]) -> Flavor:
    """Return the flavor that `scopes` belong to, or raise ValueError naming the bad scopes."""
    requested = set(scopes)
    if not requested:
        raise ValueError("the scope parameter is missing or empty")
    if requested <= INSTAGRAM_LOGIN_SCOPES:
        if "instagram_business_basic" not in requested:
            raise ValueError("instagram_business_basic is required")
        return Flavor.INSTAGRAM_LOGIN
    if requested <= BASIC_DISPLAY_SCOPES:
        if "user_profile" not in requested:
            raise ValueError("user_profile is required")
        return Flavor.BASIC_DISPLAY
    unknown = sorted(requested - INSTAGRAM_LOGIN_SCOPES - BASIC_DISPLAY_SCOPES)
    if unknown:
        raise ValueError(f"invalid scopes: {', '.join(unknown)}")
    raise ValueError("scopes of the two APIs cannot be mixed")


_ACCESS_TOKEN_MISSING = (
    "An active access token must be used to query information about the current user."
)


class SandboxState:
    """All mutable state of one sandbox; tests reach it through the app key."""

    def __init__(
        self,
        *,
        public_url: str,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        clock: Clock = utc_now,
        media_url_ttl: timedelta = timedelta(hours=1),
        redirect_uris: Sequence[str] | None = None,
    ) -> None:
        # The public URL may be reassigned after start-up, e.g. once a test server has a port.
        self.public_url = public_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.media_url_ttl = media_url_ttl
        self._clock = clock
        # NOTE: the offset lives in memory, so a restart moves the clock back, and tokens issued
        # at an advanced time then become refreshable and expire later than expected.
        self._clock_offset = timedelta()
        self._redirect_uris = tuple(redirect_uris) if redirect_uris is not None else None

        self.accounts: list[SandboxAccount] = build_accounts()
        self._codes: dict[str, AuthorizationCode] = {}
        self._used_codes: set[str] = set()
        # Tokens carry their own signed claims, so a new process with the same client secret
        # accepts them. Only revocations and the counts for /control/revoke live in memory.
        self._token_codec = AccessTokenCodec(client_secret)
        self._revocations: dict[str, _Revocation] = {}
        self._unrevoked_token_counts: Counter[str] = Counter()

        self.request_counts: Counter[str] = Counter()
        self.pending_rate_limits = 0
        self.pending_failures = 0
        self.failures_as_html = False
        self._trace_counter = 0
        # Derived from the secret so that two sandboxes with one clock sign identical URLs.
        self.media_key = hashlib.sha256(b"sandbox media urls:" + client_secret.encode()).digest()

    # Time

    def now(self) -> datetime:
        """Return the sandbox time: the clock plus every `advance`."""
        return self._clock() + self._clock_offset

    def advance(self, seconds: float) -> datetime:
        """Move the sandbox clock forward and return the new time."""
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        self._clock_offset += timedelta(seconds=seconds)
        return self.now()

    # Accounts and media

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        """Registered redirect URIs; by default the bot's callback under the public URL."""
        if self._redirect_uris is not None:
            return self._redirect_uris
        return (f"{self.public_url}/oauth/callback",)

    def account(self, account_id: str) -> SandboxAccount | None:
        """Return the account with this user id or username, or None."""
        for account in self.accounts:
            if account_id in (account.id, account.username):
                return account
        return None

    def find_media(self, media_id: str) -> tuple[SandboxAccount, SandboxMedia] | None:
        """Return the owner and the post or carousel child with this id, or None."""
        for account in self.accounts:
            for post in account.posts:
                if post.id == media_id:
                    return account, post
                for child in post.children:
                    if child.id == media_id:
                        return account, child
        return None

    def add_post(
        self,
        account_id: str,
        media_type: SandboxMediaType = SandboxMediaType.IMAGE,
        *,
        caption: str | None = None,
        child_types: tuple[SandboxMediaType, ...] = (),
        has_media_url: bool = True,
    ) -> SandboxMedia:
        """Publish a new post, newest first, timestamped with the sandbox time."""
        account = self.account(account_id)
        if account is None:
            raise KeyError(f"unknown sandbox account {account_id!r}")
        if media_type is SandboxMediaType.CAROUSEL_ALBUM and not child_types:
            child_types = (SandboxMediaType.IMAGE, SandboxMediaType.IMAGE)
        timestamp = self.now().replace(microsecond=0)
        return account.add_post(
            media_type,
            timestamp,
            caption=caption,
            child_types=child_types,
            has_media_url=has_media_url,
        )

    # Authorization codes and tokens

    def issue_code(self, account_id: str, redirect_uri: str, scopes: Sequence[str]) -> str:
        """Issue a single-use authorization code for the account."""
        flavor = flavor_for_scopes(scopes)
        code = "AQ" + secrets.token_urlsafe(48)
        self._codes[code] = AuthorizationCode(
            account_id=account_id,
            redirect_uri=redirect_uri,
            scopes=tuple(scopes),
            flavor=flavor,
            issued_at=self.now(),
        )
        return code

    def exchange_code(
        self,
        *,
        client_id: str,
        client_secret: str,
        grant_type: str,
        redirect_uri: str,
        code: str,
    ) -> tuple[SandboxAccount, str, TokenRecord]:
        """Turn a code into a short-lived token or raise CodeExchangeError.

        A rejected request leaves the code usable, except an expired one, which is dropped.
        """
        if not client_id or client_id != self.client_id:
            raise CodeExchangeError("Invalid platform app")
        if not secrets.compare_digest(client_secret.encode(), self.client_secret.encode()):
            raise CodeExchangeError("Error validating client secret.")
        if grant_type != "authorization_code":
            raise CodeExchangeError("Invalid grant_type: expected authorization_code")
        if not redirect_uri:
            raise CodeExchangeError("Missing required parameter: redirect_uri")
        if not code:
            raise CodeExchangeError("Missing required parameter: code")
        if code in self._used_codes:
            raise CodeExchangeError("This authorization code has been used")

        issued = self._codes.get(code)
        if issued is None:
            raise CodeExchangeError("Invalid authorization code")
        if self.now() - issued.issued_at >= AUTHORIZATION_CODE_TTL:
            del self._codes[code]
            raise CodeExchangeError("This authorization code has expired")
        if redirect_uri != issued.redirect_uri:
            raise CodeExchangeError(
                "Error validating verification code. Please make sure your redirect_uri "
                "is identical to the one you used in the OAuth dialog request"
            )

        del self._codes[code]
        self._used_codes.add(code)
        account = self.account(issued.account_id)
        if account is None:
            raise CodeExchangeError("Invalid authorization code")
        token, record = self._issue_token(account, issued.flavor, issued.scopes, long_lived=False)
        return account, token, record

    def _issue_token(
        self,
        account: SandboxAccount,
        flavor: Flavor,
        scopes: tuple[str, ...],
        *,
        long_lived: bool,
    ) -> tuple[str, TokenRecord]:
        token, record = self._token_codec.issue(
            account_id=account.id,
            flavor=flavor,
            scopes=scopes,
            long_lived=long_lived,
            issued_at=self.now(),
        )
        revocation = self._revocations.get(account.id)
        if revocation is not None and record.issued_at <= revocation.revoked_at:
            revocation.issued_after.add(record.nonce)
        self._unrevoked_token_counts[account.id] += 1
        return token, record

    def _is_revoked(self, record: TokenRecord) -> bool:
        revocation = self._revocations.get(record.account_id)
        if revocation is None or record.issued_at > revocation.revoked_at:
            return False
        return record.nonce not in revocation.issued_after

    def authenticate(self, token: str | None) -> tuple[SandboxAccount, TokenRecord]:
        """Return the account and record of a usable token, or raise GraphError code 190."""
        if not token:
            raise GraphError(_ACCESS_TOKEN_MISSING, code=2500)
        record = self._token_codec.decode(token)
        if record is None:
            raise GraphError("Invalid OAuth access token - Cannot parse access token", code=190)
        if self._is_revoked(record):
            raise GraphError(
                "Error validating access token: The user has not authorized application "
                f"{self.client_id}.",
                code=190,
                subcode=458,
            )
        if self.now() >= record.expires_at:
            expired_at = record.expires_at.strftime("%A, %d-%b-%y %H:%M:%S UTC")
            raise GraphError(
                f"Error validating access token: Session has expired on {expired_at}.",
                code=190,
                subcode=463,
            )
        account = self.account(record.account_id)
        if account is None:
            raise GraphError("Invalid OAuth access token - Cannot parse access token", code=190)
        return account, record

    def exchange_for_long_lived(
        self, *, grant_type: str, client_secret: str, access_token: str | None
    ) -> tuple[str, TokenRecord]:
        """Exchange a valid short-lived token for a 60-day token or raise GraphError."""
        if grant_type != "ig_exchange_token":
            raise GraphError("Unsupported grant_type: expected ig_exchange_token", code=100)
        if not secrets.compare_digest(client_secret.encode(), self.client_secret.encode()):
            raise GraphError("Error validating client secret.", code=1)
        account, record = self.authenticate(access_token)
        if record.long_lived:
            raise GraphError(
                "Invalid parameter: the token is already a long-lived token", code=100
            )
        return self._issue_token(account, record.flavor, record.scopes, long_lived=True)

    def refresh(self, *, grant_type: str, access_token: str | None) -> tuple[str, TokenRecord]:
        """Refresh a long-lived token at least 24 hours old, or raise GraphError.

        The old token stays valid until its own expiry, as with the real API.
        """
        if grant_type != "ig_refresh_token":
            raise GraphError("Unsupported grant_type: expected ig_refresh_token", code=100)
        account, record = self.authenticate(access_token)
        if not record.long_lived:
            raise GraphError(
                "Invalid parameter: only long-lived tokens can be refreshed", code=100
            )
        if self.now() - record.issued_at < REFRESH_MIN_AGE:
            raise GraphError(
                "Invalid parameter: the token must be at least 24 hours old to be refreshed",
                code=100,
            )
        return self._issue_token(account, record.flavor, record.scopes, long_lived=True)

    def revoke(self, account_id: str) -> int:
        """Invalidate every token of the account, as when the user removes the app.

        Returns how many tokens this process issued for the account since its last
        revocation. Tokens issued before a restart are rejected as well but not counted.
        """
        account = self.account(account_id)
        if account is None:
            raise KeyError(f"unknown sandbox account {account_id!r}")
        # NOTE: the marker lives in memory, so a restart makes revoked tokens valid again.
        self._revocations[account.id] = _Revocation(revoked_at=self.now())
        return self._unrevoked_token_counts.pop(account.id, 0)

    def token_record(self, token: str) -> TokenRecord | None:
        """Return the claims of `token`, or None unless this sandbox's key signed it.

        Expiry and revocation are not checked.
        """
        return self._token_codec.decode(token)

    # Fault injection and counters

    def rate_limit(self, count: int) -> None:
        """Make the next `count` Graph calls fail with error code 4."""
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        self.pending_rate_limits = count

    def fail(self, count: int, *, html: bool = False) -> None:
        """Make the next `count` token and Graph calls fail with HTTP 500."""
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        self.pending_failures = count
        self.failures_as_html = html

    def reset_request_counts(self) -> None:
        """Forget every counted request."""
        self.request_counts.clear()

    def next_trace_id(self) -> str:
        """Return a trace id shaped like Meta's `fbtrace_id`."""
        self._trace_counter += 1
        digest = hashlib.sha256(f"trace:{self._trace_counter}".encode()).digest()
        return "A" + base64.urlsafe_b64encode(digest).decode("ascii")[:22]

    def signed_request(self, user_id: str, *, issued_at: int | None = None) -> str:
        """Build a `signed_request` like Meta's deauthorize and data deletion callbacks."""
        if issued_at is None:
            issued_at = int(self.now().timestamp())
        payload = {"user_id": str(user_id), "algorithm": "HMAC-SHA256", "issued_at": issued_at}
        return build_signed_request(payload, self.client_secret)
