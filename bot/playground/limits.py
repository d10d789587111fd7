"""Flood control with the Bot API's documented sending limits."""

from __future__ import annotations

import math
import time
from collections import deque

from bot.playground.errors import BotApiError

__all__ = ["FloodControl"]

GLOBAL_MESSAGES_PER_SECOND = 30
GROUP_MESSAGES_PER_MINUTE = 20


class FloodControl:
    """Sliding windows of sent messages: about 30 per second overall, 20 per minute per group."""

    def __init__(self) -> None:
        self._global: deque[float] = deque()
        self._groups: dict[int, deque[float]] = {}

    def check(self, chat_id: int, chat_type: str, message_count: int = 1) -> None:
        """Record message_count messages to a chat, or raise a 429 error if a limit is hit."""
        now = time.monotonic()
        _expire(self._global, now - 1.0)
        if len(self._global) + message_count > GLOBAL_MESSAGES_PER_SECOND:
            raise _too_many_requests(self._global[0] + 1.0 - now if self._global else 1.0)

        group_window: deque[float] | None = None
        if chat_type in ("group", "supergroup"):
            group_window = self._groups.setdefault(chat_id, deque())
            _expire(group_window, now - 60.0)
            if len(group_window) + message_count > GROUP_MESSAGES_PER_MINUTE:
                wait = group_window[0] + 60.0 - now if group_window else 60.0
                raise _too_many_requests(wait)

        self._global.extend([now] * message_count)
        if group_window is not None:
            group_window.extend([now] * message_count)


def _expire(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()


def _too_many_requests(wait_seconds: float) -> BotApiError:
    retry_after = max(1, math.ceil(wait_seconds))
    return BotApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )
