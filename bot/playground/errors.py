"""The error response of the fake Bot API."""

from __future__ import annotations

from typing import Any

__all__ = ["BotApiError"]


class BotApiError(Exception):
    """A Bot API error response: HTTP status, description and optional parameters."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        """Return the response body the real Bot API sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> BotApiError:
    """Return a 400 error with the "Bad Request: " prefix that Telegram puts on descriptions."""
    return BotApiError(400, f"Bad Request: {reason}")
