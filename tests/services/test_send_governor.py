"""Tests for the sliding-window send governor and the PTB rate limiter built on it.

Time is virtual: the governor reads `FakeTime.clock` and sleeps through `FakeTime.sleep`, so
every expected time is exact and no test waits for real.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.services.pacing import GovernorRateLimiter, SendGovernor

PRIVATE_CHAT = 2001
GROUP_CHAT = -100200


class FakeTime:
    """A clock that only moves when a sleep moves it forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class StuckTime(FakeTime):
    """A clock whose sleeps never end, to catch a sender that waits."""

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.Event().wait()


def governor(time: FakeTime, **limits: Any) -> SendGovernor:
    options: dict[str, Any] = {"window_margin": 0.0, **limits}
    return SendGovernor(clock=time.clock, sleep=time.sleep, **options)


def most_in_any_window(stamps: list[float], period: float) -> int:
    """Return the largest number of stamps inside one window (t - period, t]."""
    return max(sum(1 for other in stamps if stamp - period < other <= stamp) for stamp in stamps)


async def test_governor_never_exceeds_rate_in_window() -> None:
    time = FakeTime()
    limiter = governor(time, overall_rate=5, overall_period=1.0)
    granted: list[float] = []

    for _ in range(23):
        await limiter.acquire(PRIVATE_CHAT)
        granted.append(time.now)

    assert most_in_any_window(granted, 1.0) == 5
    assert granted[:5] == [0.0] * 5
    assert granted[5:10] == [1.0] * 5
    assert granted[-1] == 4.0


async def test_governor_counts_album_items() -> None:
    time = FakeTime()
    limiter = governor(time, overall_rate=10, overall_period=1.0)

    await limiter.acquire(PRIVATE_CHAT, 8)
    await limiter.acquire(PRIVATE_CHAT, 2)
    await limiter.acquire(PRIVATE_CHAT, 3)

    assert time.now == 1.0


async def test_governor_adds_window_margin() -> None:
    time = FakeTime()
    limiter = governor(time, overall_rate=2, overall_period=1.0, window_margin=0.25)

    for _ in range(3):
        await limiter.acquire(PRIVATE_CHAT)

    assert time.now == 1.25


async def test_governor_limits_each_group() -> None:
    time = FakeTime()
    limiter = governor(time, group_rate=3, group_period=60.0)
    granted: list[float] = []

    for _ in range(7):
        await limiter.acquire(GROUP_CHAT)
        granted.append(time.now)

    assert granted == [0.0, 0.0, 0.0, 60.0, 60.0, 60.0, 120.0]


async def test_governor_full_group_does_not_block_others() -> None:
    time = StuckTime()
    limiter = governor(time, group_rate=2, group_period=60.0)
    await limiter.acquire(GROUP_CHAT)
    await limiter.acquire(GROUP_CHAT)

    waiting = asyncio.create_task(limiter.acquire(GROUP_CHAT))
    await asyncio.sleep(0)
    await limiter.acquire(PRIVATE_CHAT)
    await limiter.acquire(-100300)

    assert not waiting.done()
    assert time.waits == [60.0]
    waiting.cancel()


async def test_governor_stamps_send_when_it_finishes() -> None:
    time = FakeTime()
    limiter = governor(time, overall_rate=1, overall_period=1.0)

    async with limiter.sending(PRIVATE_CHAT):
        time.now += 0.5  # the request takes half a second
    await limiter.acquire(PRIVATE_CHAT)

    assert time.now == 1.5


async def test_governor_waits_for_send_in_flight() -> None:
    time = FakeTime()
    limiter = governor(time, overall_rate=1, overall_period=1.0)
    response = asyncio.Event()

    async def slow_send() -> None:
        async with limiter.sending(PRIVATE_CHAT):
            await response.wait()
            time.now = 3.0

    sending = asyncio.create_task(slow_send())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(limiter.acquire(PRIVATE_CHAT))
    for _ in range(5):
        await asyncio.sleep(0)

    assert not waiting.done()
    assert time.waits == []
    response.set()
    await sending
    await waiting
    assert time.now == 4.0


async def test_governor_rejects_send_larger_than_window() -> None:
    limiter = governor(FakeTime(), group_rate=5)

    with pytest.raises(ValueError, match="1 to 5 messages, got 6"):
        await limiter.acquire(GROUP_CHAT, 6)
    with pytest.raises(ValueError, match="got 0"):
        await limiter.acquire(PRIVATE_CHAT, 0)


async def test_governor_forgets_idle_groups() -> None:
    time = FakeTime()
    limiter = governor(time, group_rate=1, group_period=10.0, max_tracked_groups=2)
    await limiter.acquire(-1)
    await limiter.acquire(-2)
    time.now = 20.0

    await limiter.acquire(-3)
    await limiter.acquire(-1)

    assert time.now == 20.0


class RecordingCallback:
    """Stand-in for the Bot API request: records call times, raises queued errors."""

    def __init__(self, time: FakeTime, errors: list[Exception] | None = None) -> None:
        self.time = time
        self.errors = errors or []
        self.calls: list[float] = []

    async def __call__(self) -> dict[str, Any]:
        self.calls.append(self.time.now)
        if self.errors:
            raise self.errors.pop(0)
        return {"ok": True}


async def send(
    limiter: GovernorRateLimiter,
    callback: RecordingCallback,
    endpoint: str,
    data: dict[str, Any],
    rate_limit_args: int | None = None,
) -> object:
    return await limiter.process_request(
        callback=callback,
        args=(),
        kwargs={},
        endpoint=endpoint,
        data=data,
        rate_limit_args=rate_limit_args,
    )


async def test_rate_limiter_counts_album_items() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(governor(time, overall_rate=10, overall_period=1.0))
    callback = RecordingCallback(time)
    album = {"chat_id": PRIVATE_CHAT, "media": [object()] * 10}

    await send(limiter, callback, "sendMediaGroup", album)
    await send(limiter, callback, "sendMessage", {"chat_id": str(PRIVATE_CHAT)})

    assert callback.calls == [0.0, 1.0]


async def test_rate_limiter_passes_calls_without_chat() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(governor(time, overall_rate=1, overall_period=1.0))
    callback = RecordingCallback(time)

    for _ in range(3):
        await send(limiter, callback, "answerCallbackQuery", {"callback_query_id": "1"})

    assert callback.calls == [0.0, 0.0, 0.0]


async def test_rate_limiter_passes_reads_in_full_group() -> None:
    time = StuckTime()
    limiter = GovernorRateLimiter(governor(time, group_rate=2, group_period=60.0))
    callback = RecordingCallback(time)
    for _ in range(2):
        await send(limiter, callback, "sendMessage", {"chat_id": GROUP_CHAT})
    calls_without_wait = [
        ("getChatMember", {"chat_id": GROUP_CHAT, "user_id": 7}),
        ("getChatAdministrators", {"chat_id": GROUP_CHAT}),
        ("getChat", {"chat_id": GROUP_CHAT}),
        ("answerCallbackQuery", {"callback_query_id": "1"}),
        ("editMessageText", {"chat_id": GROUP_CHAT, "message_id": 1, "text": "x"}),
        ("editMessageReplyMarkup", {"chat_id": GROUP_CHAT, "message_id": 1}),
    ]

    for endpoint, data in calls_without_wait:
        await asyncio.wait_for(send(limiter, callback, endpoint, data), timeout=5)
    blocked = asyncio.create_task(send(limiter, callback, "sendMessage", {"chat_id": GROUP_CHAT}))
    for _ in range(5):
        await asyncio.sleep(0)

    assert len(callback.calls) == 2 + len(calls_without_wait)
    assert not blocked.done()
    assert time.waits == [60.0]
    blocked.cancel()


async def test_rate_limiter_reads_use_no_budget() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(governor(time, group_rate=2, group_period=60.0))
    callback = RecordingCallback(time)

    for _ in range(5):
        await send(limiter, callback, "getChatMember", {"chat_id": GROUP_CHAT, "user_id": 7})
    for _ in range(3):
        await send(limiter, callback, "sendMessage", {"chat_id": GROUP_CHAT})

    assert callback.calls == [0.0] * 7 + [60.0]


async def test_rate_limiter_counts_forwarded_batch() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(governor(time, group_rate=3, group_period=60.0))
    callback = RecordingCallback(time)
    batch = {"chat_id": GROUP_CHAT, "from_chat_id": PRIVATE_CHAT, "message_ids": [1, 2, 3]}

    await send(limiter, callback, "forwardMessages", batch)
    await send(limiter, callback, "copyMessage", {"chat_id": GROUP_CHAT, "message_id": 4})

    assert callback.calls == [0.0, 60.0]


async def test_rate_limiter_retries_read_after_retry_after() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(
        governor(time), max_retries=1, clock=time.clock, sleep=time.sleep
    )
    callback = RecordingCallback(time, [RetryAfter(timedelta(seconds=4))])

    result = await send(limiter, callback, "getChatMember", {"chat_id": GROUP_CHAT})

    assert result == {"ok": True}
    assert callback.calls == [0.0, 4.0]


async def test_rate_limiter_retries_after_retry_after() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(
        governor(time), max_retries=2, clock=time.clock, sleep=time.sleep
    )
    callback = RecordingCallback(time, [RetryAfter(timedelta(seconds=3))])

    result = await send(limiter, callback, "sendMessage", {"chat_id": PRIVATE_CHAT})

    assert result == {"ok": True}
    assert callback.calls == [0.0, 3.0]


async def test_rate_limiter_raises_after_max_retries() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(
        governor(time), max_retries=2, clock=time.clock, sleep=time.sleep
    )
    errors: list[Exception] = [RetryAfter(timedelta(seconds=1)) for _ in range(2)]
    callback = RecordingCallback(time, errors)

    with pytest.raises(RetryAfter):
        await send(limiter, callback, "sendMessage", {"chat_id": PRIVATE_CHAT}, 1)

    assert callback.calls == [0.0, 1.0]


async def test_rate_limiter_without_governor_paces_nothing() -> None:
    time = FakeTime()
    limiter = GovernorRateLimiter(clock=time.clock, sleep=time.sleep)
    callback = RecordingCallback(time)

    for _ in range(50):
        await send(limiter, callback, "sendMessage", {"chat_id": GROUP_CHAT})

    assert callback.calls == [0.0] * 50
