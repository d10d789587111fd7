"""Errors raised by the Instagram client, and how API error responses map to them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "RATE_LIMIT_CODES",
    "AuthorizationCodeError",
    "InstagramError",
    "InstagramUnavailableError",
    "InvalidTokenError",
    "RateLimitError",
]

INVALID_TOKEN_CODE = 190

# Graph error codes that mean "too many calls": app, user, page, custom and business use case.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80002})

# Headers that report how much of the call budget is used, as JSON objects.
USAGE_HEADERS = ("x-app-usage", "x-business-use-case-usage")

REDACTED = "[redacted]"


class InstagramError(Exception):
    """Root of every error the Instagram client raises.

    `status` is the HTTP status, `code`, `subcode` and `error_type` come from the error body,
    and `trace_id` is Meta's `fbtrace_id`, which identifies the request to Meta support.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.trace_id = trace_id

    def __str__(self) -> str:
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.error_type:
            details.append(self.error_type)
        if self.code is not None:
            details.append(f"code {self.code}")
        if self.subcode is not None:
            details.append(f"subcode {self.subcode}")
        if self.trace_id:
            details.append(f"trace id {self.trace_id}")
        if not details:
            return self.message
        return f"{self.message} ({', '.join(details)})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r}, "
            f"subcode={self.subcode!r}, error_type={self.error_type!r}, "
            f"trace_id={self.trace_id!r})"
        )


class InvalidTokenError(InstagramError):
    """The access token is invalid, expired or revoked (code 190): the user must reconnect."""


class RateLimitError(InstagramError):
    """Instagram throttles the app or the user; back off for `retry_after` seconds if known.

    `usage` maps each usage header that was present (lower-case name) to its parsed JSON.
    """

    def __init__(
        self,
        message: str,
        *,
        usage: dict[str, Any] | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            subcode=subcode,
            error_type=error_type,
            trace_id=trace_id,
        )
        self.usage: dict[str, Any] = usage if usage is not None else {}
        self.retry_after = retry_after


class AuthorizationCodeError(InstagramError):
    """The code exchange was rejected: the code is invalid, used or expired, or the
    redirect URI does not match the one in the authorization request."""


class InstagramUnavailableError(InstagramError):
    """Instagram is unreachable or failing: timeout, connection error, 5xx or a non-JSON body."""


def parse_usage_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    """Parse the JSON usage headers that are present; malformed ones are left out."""
    usage: dict[str, Any] = {}
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in USAGE_HEADERS:
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            usage[name] = json.loads(raw)
        except ValueError:
            continue
    return usage


def retry_after_from_usage(usage: Mapping[str, Any]) -> float | None:
    """Return the longest `estimated_time_to_regain_access`, converted from minutes to seconds.

    The business use case header maps an account id to a list of entries, one per call type.
    A value of 0 means no estimate, so the result is None unless some entry is positive.
    """
    minutes = [
        value
        for entry in _business_use_case_entries(usage.get("x-business-use-case-usage"))
        if isinstance(value := entry.get("estimated_time_to_regain_access"), int | float)
        and not isinstance(value, bool)
        and value > 0
    ]
    if not minutes:
        return None
    return float(max(minutes)) * 60.0


def _business_use_case_entries(header: Any) -> Iterable[Mapping[str, Any]]:
    if not isinstance(header, Mapping):
        return
    for entries in header.values():
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, Mapping):
                yield entry


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every non-empty secret in `text` with a placeholder."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    operation: str,
    code_exchange: bool = False,
    secrets: Iterable[str] = (),
) -> InstagramError:
    """Build the error for an API response that carries an error body or a failure status.

    Both error shapes parse: the flat one of the code exchange (`error_type`, `code`,
    `error_message`) and the Graph one (`{"error": {"message", "type", "code", ...}}`).
    Any message text is scrubbed of `secrets`, because some errors echo request values.
    """
    fields = _error_fields(body)
    message = fields.pop("message") or f"Instagram returned HTTP {status} for {operation}"
    message = redact(str(message), secrets)
    code = fields["code"]

    if code in RATE_LIMIT_CODES or status == 429:
        usage = parse_usage_headers(headers)
        return RateLimitError(
            message,
            status=status,
            usage=usage,
            retry_after=retry_after_from_usage(usage) or _retry_after_header(headers),
            **fields,
        )
    if status >= 500:
        return InstagramUnavailableError(message, status=status, **fields)
    if code == INVALID_TOKEN_CODE:
        return InvalidTokenError(message, status=status, **fields)
    if code_exchange and 400 <= status < 500:
        return AuthorizationCodeError(message, status=status, **fields)
    return InstagramError(message, status=status, **fields)


def has_error(body: Any) -> bool:
    """Tell whether a JSON body is an error object of either shape."""
    if not isinstance(body, Mapping):
        return False
    return "error" in body or "error_type" in body or "error_message" in body


def _error_fields(body: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "message": None,
        "code": None,
        "subcode": None,
        "error_type": None,
        "trace_id": None,
    }
    if not isinstance(body, Mapping):
        return fields

    error = body.get("error")
    if isinstance(error, Mapping):
        fields["message"] = _text(error.get("message")) or _text(error.get("error_user_msg"))
        fields["error_type"] = _text(error.get("type"))
        fields["code"] = _integer(error.get("code"))
        fields["subcode"] = _integer(error.get("error_subcode"))
        fields["trace_id"] = _text(error.get("fbtrace_id"))
    elif isinstance(error, str):
        # OAuth 2.0 style, as some proxies answer: {"error": "...", "error_description": "..."}.
        fields["error_type"] = error
        fields["message"] = _text(body.get("error_description")) or error
    else:
        fields["message"] = _text(body.get("error_message"))
        fields["error_type"] = _text(body.get("error_type"))
        fields["code"] = _integer(body.get("code"))
        fields["trace_id"] = _text(body.get("fbtrace_id"))
    return fields


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    # Only the delay-seconds form of Retry-After; an HTTP date is ignored.
    lowered = {name.lower(): value for name, value in headers.items()}
    value = lowered.get("retry-after", "").strip()
    return float(value) if value.isdigit() and int(value) > 0 else None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
