"""Group fan-out: one new Instagram post delivered to 1,000 subscribed group chats.

Telegram allows about 30 messages per second overall and 20 per minute in one group. Both
limits are scaled in time by `TIME_SCALE`, everywhere at once: the fake Bot API enforces
them over sliding windows of 1/`TIME_SCALE` s and 60/`TIME_SCALE` s, and the bot's send
governor gets the same periods and its window margin divided by `TIME_SCALE`. The run is
then `TIME_SCALE` times shorter than at Telegram's real limits, with the same shape.

The bot side is the real path: `SubscriptionService.poll()` reads the feed from `FakeFeed`,
finds the new post and sends it through `DeliveryService` with an `ExtBot` whose rate
limiter is a `GovernorRateLimiter`, as `create_app` sets up. The first poll
marks the existing posts as seen; the second poll, after `FakeFeed.publish()`, is timed.
The ideal is the limit-bound time: chats / (30 x `TIME_SCALE`) seconds. A last poll with
every limit off shows how fast the bot itself can fan out, which must stay well above the
scaled rate for the first figure to measure the limiting and not the bot.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from telegram.ext import ExtBot

from bench.fake_feed import FakeFeed
from bench.fake_thread import BENCH_BOT_TOKEN
from bench.gramlink_app import BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, temporary_storage
from bench.report import Figure
from bot.app import TELEGRAM_MAX_RETRIES
from bot.clock import utc_now
from bot.instagram import InstagramClient
from bot.playground import FakeTelegram
from bot.playground.errors import BotApiError
from bot.services.delivery import DeliveryService
from bot.services.pacing import DEFAULT_WINDOW_MARGIN, GovernorRateLimiter, SendGovernor
from bot.services.subscriptions import SubscriptionService
from storage import Storage

__all__ = ["ScaledFloodControl", "run"]

OVERALL_MESSAGES = 30
OVERALL_PERIOD = 1.0
GROUP_MESSAGES = 20
GROUP_PERIOD = 60.0
TIME_SCALE = 5
GOAL_RATIO = 1.1
OWNER_USER_ID = 6_660_001
FIRST_CHAT_ID = -1_001_000_000_000


class ScaledFloodControl:
    """The fake Bot API's flood control with its time windows divided by `scale`.

    Like the fake's own `FloodControl`, it keeps sliding windows of sent messages: at most
    30 in any 1/`scale` s overall and 20 in any 60/`scale` s per group, and it rejects a
    message over a limit with a 429 error. The fake's `FloodControl` has fixed windows,
    so this class stands in for it.
    """

    def __init__(self, scale: float) -> None:
        self._overall_period = OVERALL_PERIOD / scale
        self._group_period = GROUP_PERIOD / scale
        self._overall: deque[float] = deque()
        self._groups: dict[int, deque[float]] = {}

    def check(self, chat_id: int, chat_type: str, message_count: int = 1) -> None:
        """Record `message_count` messages to a chat, or raise a 429 error over a limit."""
        now = time.monotonic()
        _expire(self._overall, now - self._overall_period)
        if len(self._overall) + message_count > OVERALL_MESSAGES:
            raise _too_many_requests()

        group: deque[float] | None = None
        if chat_type in ("group", "supergroup"):
            group = self._groups.setdefault(chat_id, deque())
            _expire(group, now - self._group_period)
            if len(group) + message_count > GROUP_MESSAGES:
                raise _too_many_requests()

        self._overall.extend([now] * message_count)
        if group is not None:
            group.extend([now] * message_count)


def _expire(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()


def _too_many_requests() -> BotApiError:
    # The Bot API gives whole seconds; a scaled wait would round up to 1 s anyway.
    return BotApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})


async def _subscribe_groups(storage: Storage, telegram: FakeTelegram, chats: int) -> list[int]:
    now = utc_now()
    await storage.upsert_telegram_user(OWNER_USER_ID, "bench_owner", "Bench")
    account = await storage.save_account(
        telegram_user_id=OWNER_USER_ID,
        instagram_user_id="17841400000000001",
        username="bench_user",
        account_type="MEDIA_CREATOR",
        access_token="IGQVJbenchFanoutToken",
        token_issued_at=now,
        token_expires_at=now + timedelta(days=60),
        now=now,
    )
    chat_ids = [FIRST_CHAT_ID - index for index in range(chats)]
    for chat_id in chat_ids:
        telegram.add_group(chat_id, f"Bench group {-chat_id}", [OWNER_USER_ID], "supergroup")
        await storage.subscribe(
            chat_id=chat_id, account_id=account.id, subscribed_by=OWNER_USER_ID, now=now
        )
    return chat_ids


def _bot(api_url: str, chats: int, *, limited: bool) -> ExtBot[Any]:
    """Build the bot; `limited` installs the app's rate limiter with the scaled limits."""
    limiter: GovernorRateLimiter | None = None
    if limited:
        governor = SendGovernor(
            overall_rate=OVERALL_MESSAGES,
            overall_period=OVERALL_PERIOD / TIME_SCALE,
            group_rate=GROUP_MESSAGES,
            group_period=GROUP_PERIOD / TIME_SCALE,
            window_margin=DEFAULT_WINDOW_MARGIN / TIME_SCALE,
            max_tracked_groups=chats,
        )
        limiter = GovernorRateLimiter(governor, max_retries=TELEGRAM_MAX_RETRIES)
    return ExtBot(
        BENCH_BOT_TOKEN,
        base_url=f"{api_url}/bot",
        base_file_url=f"{api_url}/file/bot",
        rate_limiter=limiter,
    )


@dataclass(frozen=True, slots=True)
class FanOut:
    """One timed poll: seconds, posts delivered and 429 errors received."""

    seconds: float
    delivered: int
    rate_limited: int


async def _fan_out(
    storage: Storage, telegram: FakeTelegram, feed: FakeFeed, chats: int, *, limited: bool
) -> FanOut:
    """Publish one post and time the poll that delivers it to every subscribed chat."""
    telegram.enforce_limits = limited
    bot = _bot(telegram.api_url, chats, limited=limited)
    async with (
        bot,
        httpx.AsyncClient(timeout=30.0) as http_client,
        InstagramClient(
            client_id=BENCH_CLIENT_ID,
            client_secret=BENCH_CLIENT_SECRET,
            redirect_uri="http://127.0.0.1/oauth/callback",
            authorize_url=f"{feed.graph_url}/oauth/authorize",
            api_url=feed.graph_url,
            graph_url=feed.graph_url,
            http_client=http_client,
        ) as instagram,
    ):
        # As in the app, the bot's rate limiter paces the sends and DeliveryService does not.
        delivery = DeliveryService(bot, storage=storage, http_client=http_client)
        subscriptions = SubscriptionService(
            storage=storage, instagram=instagram, delivery=delivery
        )
        # The first poll of a subscription marks the posts already there as seen.
        await subscriptions.poll()
        sends_before = len(telegram.requests)
        rejected_before = telegram.rate_limited

        post = feed.publish()
        started = time.perf_counter()
        summary = await subscriptions.poll()
        elapsed = time.perf_counter() - started

    delivered = sum(
        1 for call in telegram.requests[sends_before:] if call.ok and call.method == "sendPhoto"
    )
    if delivered != chats:
        raise RuntimeError(
            f"post {post.id} reached {delivered} of {chats} chats; poll summary: {summary}"
        )
    return FanOut(elapsed, delivered, telegram.rate_limited - rejected_before)


async def run(*, smoke: bool) -> list[Figure]:
    """Deliver a new post to every subscribed group, with and without the rate limits."""
    chats = 60 if smoke else 1000
    telegram = FakeTelegram(BENCH_BOT_TOKEN)
    telegram.flood = ScaledFloodControl(TIME_SCALE)  # type: ignore[assignment]
    feed = FakeFeed(media_count=5, carousel_every=0)
    await telegram.start()
    await feed.start()
    try:
        async with temporary_storage("fanout.db") as storage:
            await _subscribe_groups(storage, telegram, chats)
            limited = await _fan_out(storage, telegram, feed, chats, limited=True)
            unlimited = await _fan_out(storage, telegram, feed, chats, limited=False)
    finally:
        await feed.stop()
        await telegram.stop()

    ideal = chats / (OVERALL_MESSAGES * TIME_SCALE)
    limits = (
        f"{chats} groups; limits {OVERALL_MESSAGES}/{OVERALL_PERIOD / TIME_SCALE:g} s overall, "
        f"{GROUP_MESSAGES}/{GROUP_PERIOD / TIME_SCALE:g} s per group (Telegram's / {TIME_SCALE})"
    )
    return [
        Figure(
            "fan-out time",
            limited.seconds,
            "s",
            "limit-bound ideal",
            ideal,
            goal_max=GOAL_RATIO,
            note=limits,
        ),
        Figure(
            "429 errors",
            limited.rate_limited,
            "",
            "messages sent",
            limited.delivered,
            value_max=0,
        ),
        Figure(
            "fan-out time without limits",
            unlimited.seconds,
            "s",
            "limit-bound ideal",
            ideal,
            note="rate limiter and fake limits off: the bot's own capacity",
        ),
    ]
