"""Pace Bot API sends within Telegram's flood limits.

`SendGovernor` counts messages over sliding windows, overall and per group.
`GovernorRateLimiter` puts python-telegram-bot's calls that post messages behind a governor
and retries every call after a RetryAfter.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

__all__ = [
    "DEFAULT_WINDOW_MARGIN",
    "GovernorRateLimiter",
    "SendGovernor",
    "retry_after_seconds",
]

logger = logging.getLogger(__name__)

# Seconds added to each flood-control window, because Telegram documents its limits as
# approximate and not as exact windows. The value is an estimate.
DEFAULT_WINDOW_MARGIN = 0.05


class _Window:
    """One flood-control budget: sends inside its sliding window and sends in flight.

    `times` contains the stamp of each message that still counts, oldest first. A message
    in flight counts without a stamp until its request finishes.
    """

    __slots__ = ("finished", "in_flight", "limit", "lock", "period", "times")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.times: deque[float] = deque()
        self.in_flight = 0
        self.lock = asyncio.Lock()
        self.finished = asyncio.Event()

    def wait_time(self, now: float, messages: int) -> float | None:
        """Return the seconds until `messages` more fit, 0.0 if they fit now, or None if
        they fit only after a send in flight finishes."""
        cutoff = now - self.period
        times = self.times
        while times and times[0] <= cutoff:
            times.popleft()
        excess = len(times) + self.in_flight + messages - self.limit
        if excess <= 0:
            return 0.0
        if excess > len(times):
            return None
        # The `excess` oldest stamps must leave the window first.
        return times[excess - 1] - cutoff

    def stamp(self, now: float, messages: int) -> None:
        # Stamps are taken from a monotonic clock when they are added, so `times` stays sorted.
        self.times.extend([now] * messages)

    def finish(self, now: float, messages: int) -> None:
        self.in_flight -= messages
        self.stamp(now, messages)
        self.finished.set()


class SendGovernor:
    """Keep sends within Telegram's flood limits over sliding windows, per album item.

    Telegram allows about 30 messages per second overall and 20 per minute in one group,
    and an album of n items counts as n messages. The governor keeps a stamp for every
    message that still counts and lets a send through only when it fits, so no window of
    `period + window_margin` seconds ever contains more than `rate` messages, bursts
    included. A leaky bucket whose capacity equals its rate would let up to twice the rate
    through within one window after a pause.

    `sending()` stamps its messages when the request finishes. Telegram counted them at some
    moment between the start of the request and its response. A later send that waits a
    whole window after the response therefore cannot share Telegram's window with them,
    however long the requests take. `acquire()` stamps them at once, for callers that do
    not report when the request finished.

    NOTE: the budgets are per process; several bot processes with one token would need a
    shared limiter.
    """

    def __init__(
        self,
        *,
        overall_rate: float = 30,
        overall_period: float = 1.0,
        group_rate: float = 20,
        group_period: float = 60.0,
        window_margin: float = DEFAULT_WINDOW_MARGIN,
        max_tracked_groups: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if overall_rate < 1 or group_rate < 1:
            raise ValueError(
                f"rates must allow at least 1 message, got {overall_rate} and {group_rate}"
            )
        if window_margin < 0:
            raise ValueError(f"window_margin must be 0 or greater, got {window_margin}")
        self._overall = _Window(int(overall_rate), overall_period + window_margin)
        self._group_limit = int(group_rate)
        self._group_period = group_period + window_margin
        self._groups: dict[int | str, _Window] = {}
        self._max_tracked_groups = max_tracked_groups
        self._clock = clock
        self._sleep = sleep

    async def acquire(self, chat_id: int | str, messages: int = 1) -> None:
        """Wait until `messages` messages may be sent to `chat_id`, then count them as sent.

        Raises:
            ValueError: `messages` is below 1 or more than a window ever allows.
        """
        windows = await self._reserve(chat_id, messages)
        now = self._clock()
        for window in windows:
            window.finish(now, messages)

    @asynccontextmanager
    async def sending(self, chat_id: int | str, messages: int = 1) -> AsyncIterator[None]:
        """Wait until `messages` messages may be sent to `chat_id`, and count them while the
        body sends them and for a whole window after it finishes, however it finishes.

        Raises:
            ValueError: `messages` is below 1 or more than a window ever allows.
        """
        windows = await self._reserve(chat_id, messages)
        try:
            yield
        finally:
            now = self._clock()
            for window in windows:
                window.finish(now, messages)

    async def _reserve(self, chat_id: int | str, messages: int) -> list[_Window]:
        """Wait for room for `messages` and count them as in flight in every budget."""
        group = self._group_window(chat_id) if _is_group(chat_id) else None
        largest = self._overall.limit if group is None else min(self._overall.limit, group.limit)
        if not 1 <= messages <= largest:
            raise ValueError(f"a send counts 1 to {largest} messages, got {messages}")
        if group is None:
            async with self._overall.lock:
                await self._wait_for_room(self._overall, messages)
                self._overall.in_flight += messages
            return [self._overall]

        # The wait for a full group comes before the queue for the overall budget, so one
        # busy group does not hold up sends to other chats.
        async with group.lock:
            await self._wait_for_room(group, messages)
            async with self._overall.lock:
                await self._wait_for_room(self._overall, messages)
                self._overall.in_flight += messages
            group.in_flight += messages
        return [self._overall, group]

    async def _wait_for_room(self, window: _Window, messages: int) -> None:
        while (wait := window.wait_time(self._clock(), messages)) != 0:
            if wait is None:
                window.finished.clear()
                await window.finished.wait()
            else:
                await self._sleep(wait)

    def _group_window(self, chat_id: int | str) -> _Window:
        window = self._groups.get(chat_id)
        if window is None:
            if len(self._groups) >= self._max_tracked_groups:
                self._forget_idle_groups()
            window = _Window(self._group_limit, self._group_period)
            self._groups[chat_id] = window
        return window

    def _forget_idle_groups(self) -> None:
        # A group with no counted send and no waiting sender carries no history.
        now = self._clock()
        idle = [
            chat_id
            for chat_id, window in self._groups.items()
            if not window.lock.locked() and window.wait_time(now, window.limit) == 0
        ]
        for chat_id in idle:
            del self._groups[chat_id]


# Bot API methods that post new messages into a chat, which is what Telegram's flood limits
# count. Reads (getChatMember, getChat, ...), answerCallbackQuery, chat actions, deletions and
# edits (editMessageText, editMessageReplyMarkup, ...) post no message, so they neither wait
# for nor use up a chat's budget. Telegram can still reject an edit with RetryAfter, and the
# limiter then pauses and retries it like any other call.
_POSTING_METHODS = frozenset(
    {
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
        "sendAnimation",
        "sendAudio",
        "sendContact",
        "sendDice",
        "sendDocument",
        "sendGame",
        "sendInvoice",
        "sendLocation",
        "sendMediaGroup",
        "sendMessage",
        "sendPaidMedia",
        "sendPhoto",
        "sendPoll",
        "sendSticker",
        "sendVenue",
        "sendVideo",
        "sendVideoNote",
        "sendVoice",
    }
)
# Methods that post several messages at once, with the request field that lists them.
_BATCH_FIELDS = {
    "sendMediaGroup": "media",
    "copyMessages": "message_ids",
    "forwardMessages": "message_ids",
}


def _is_group(chat_id: int | str) -> bool:
    # Group, supergroup and channel ids are negative, and "@name" addresses a supergroup or
    # channel. Private chats have no per-chat budget here.
    return isinstance(chat_id, str) or chat_id < 0


class GovernorRateLimiter(BaseRateLimiter[int]):
    """python-telegram-bot rate limiter that paces Bot API calls posting messages with a governor.

    Every call that posts messages into a chat (sendMessage, sendMediaGroup, copyMessage and
    the like) waits for `governor`, which counts each item of an album or batch as one
    message. Other calls, such as getChatMember, answerCallbackQuery and editMessageText, go
    at once. Without a governor nothing is paced.

    After a RetryAfter, every call waits the time Telegram requests, and the call is retried
    up to `max_retries` times (`rate_limit_args` of a single call overrides that number).
    After the last retry the RetryAfter reaches the caller.
    """

    def __init__(
        self,
        governor: SendGovernor | None = None,
        *,
        max_retries: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._governor = governor
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._paused_until = 0.0

    async def initialize(self) -> None:
        """Do nothing, because the limiter opens no resources."""

    async def shutdown(self) -> None:
        """Do nothing, because the limiter opens no resources."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for the flood limits, make the request, and retry it after a RetryAfter."""
        max_retries = self._max_retries if rate_limit_args is None else rate_limit_args
        chat_id = _chat_id_of(data)
        posts_messages = endpoint in _POSTING_METHODS
        batch_field = _BATCH_FIELDS.get(endpoint)
        messages = max(1, len(data.get(batch_field) or ())) if batch_field else 1
        attempt = 0
        while True:
            await self._wait_for_pause()
            try:
                if self._governor is None or chat_id is None or not posts_messages:
                    return await callback(*args, **kwargs)
                async with self._governor.sending(chat_id, messages):
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= max_retries:
                    raise
                attempt += 1
                wait = retry_after_seconds(exc)
                self._paused_until = max(self._paused_until, self._clock() + wait)
                logger.info(
                    "Flood control on %s to chat %s: pausing Bot API calls for %s s (retry %d)",
                    endpoint,
                    chat_id,
                    wait,
                    attempt,
                )

    async def _wait_for_pause(self) -> None:
        while (wait := self._paused_until - self._clock()) > 0:
            await self._sleep(wait)


def _chat_id_of(data: dict[str, Any]) -> int | str | None:
    chat_id = data.get("chat_id")
    if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
        return int(chat_id)
    if isinstance(chat_id, int | str):
        return chat_id
    return None


def retry_after_seconds(exc: RetryAfter) -> float:
    """Return `exc.retry_after` in seconds, whether PTB gives an int or a timedelta."""
    # PTB 22.2+ warns that the int form is deprecated unless PTB_TIMEDELTA is set.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
