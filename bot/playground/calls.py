"""Parameters of one Bot API request, and the record the fake keeps of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.playground.errors import bad_request

__all__ = ["ApiCall", "RecordedCall", "Upload"]

# Parameters that carry JSON objects; form and multipart bodies send them as JSON strings.
_JSON_PARAMETERS = frozenset(
    {
        "reply_markup",
        "media",
        "results",
        "commands",
        "allowed_updates",
        "entities",
        "caption_entities",
        "scope",
        "link_preview_options",
        "reply_parameters",
        "button",
    }
)


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart body."""

    data: bytes
    file_name: str | None
    content_type: str


@dataclass(frozen=True)
class RecordedCall:
    """One Bot API request the fake answered: parameters, uploads and the outcome."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    result: Any = None
    error_code: int | None = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the fake answered with ok=true."""
        return self.error_code is None


class ApiCall:
    """Typed access to the parameters of a request, raising Bot API errors on bad values."""

    def __init__(self, method: str, raw: dict[str, Any], uploads: dict[str, Upload]) -> None:
        self.method = method
        self.uploads = uploads
        self.params = {name: _decode(name, value) for name, value in raw.items()}

    def get(self, name: str, default: Any = None) -> Any:
        """Return a parameter as sent (JSON parameters decoded), or default."""
        return self.params.get(name, default)

    def text(self, name: str) -> str | None:
        """Return a parameter as a string, or None when absent."""
        value = self.params.get(name)
        return None if value is None else str(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        """Return a parameter as an integer, or default when absent."""
        value = self.params.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{name}" must be of type Integer') from None

    def required_integer(self, name: str) -> int:
        """Return a required integer parameter, raising 400 when it is missing."""
        value = self.integer(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def flag(self, name: str) -> bool:
        """Return a Boolean parameter; absent means False."""
        value = self.params.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def chat_id(self) -> int | str | None:
        """Return chat_id as an integer, or the @username string, or None."""
        value = self.params.get("chat_id")
        if isinstance(value, str) and not value.startswith("@"):
            return self.integer("chat_id")
        return value


def _decode(name: str, value: Any) -> Any:
    if name not in _JSON_PARAMETERS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise bad_request(f"can't parse {name} JSON object") from None
