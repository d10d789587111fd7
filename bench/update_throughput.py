"""Update throughput: 5,000 `/help` messages from 500 users, by long polling and by webhook.

The fake Bot API and the code that feeds it run on their own thread (`ThreadedFakeTelegram`);
the bot runs on the benchmark's event loop. The main figure is updates per CPU-second of
the bot: the CPU time of the whole process minus that of the fake's thread, so the bot's
worker threads (aiosqlite) count and the fake does not. One CPU-second is one core busy for
a second, so this is updates per second per core.

Gramlink replies to `/help` after recording the user in the database. The baseline is a
minimal python-telegram-bot echo bot (`bench.echo_bot`) on the same fake, which only
replies. Under webhook both receive the same update bodies, posted to their
`/telegram/webhook` by the fake's thread over 40 connections at most, the default of
Telegram's `max_connections`.

The bot's rate limiter keeps chat-bound Bot API calls within 30 per second, so 5,000
replies would take almost three minutes of mostly idle waiting. The main runs therefore
pass `create_app` a `GovernorRateLimiter` without a governor, which paces nothing and only
retries after RetryAfter. A last, shorter polling run keeps the limiter as shipped and
reports the wall-clock rate a burst of updates actually gets.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bench.echo_bot import SECRET_HEADER, EchoWebhookServer, build_echo_application
from bench.fake_feed import FakeFeed
from bench.fake_thread import BENCH_BOT_TOKEN, ThreadedFakeTelegram
from bench.gramlink_app import bench_settings
from bench.report import Figure
from bot.app import TELEGRAM_MAX_RETRIES, create_app
from bot.playground import FakeTelegram
from bot.services.pacing import GovernorRateLimiter

__all__ = ["run"]

WEBHOOK_SECRET = "bench-webhook-secret"
WEBHOOK_CONNECTIONS = 40
COMMAND = "/help"
FIRST_USER_ID = 700_000_000
REPLY_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Measurement:
    """CPU and wall-clock seconds the bot needed for a batch of updates."""

    updates: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def per_cpu_second(self) -> float:
        """Updates handled per CPU-second of the bot."""
        return self.updates / self.cpu_seconds

    @property
    def per_wall_second(self) -> float:
        """Updates handled per wall-clock second."""
        return self.updates / self.wall_seconds


def _queue_updates(fake: FakeTelegram, users: int, per_user: int) -> list[dict[str, Any]]:
    """Queue the messages round-robin over the users and return the update bodies."""
    updates = []
    for _ in range(per_user):
        for user in range(users):
            updates.append(fake.send_message(FIRST_USER_ID + user, COMMAND))
    return updates


def _take_updates(fake: FakeTelegram, users: int, per_user: int) -> list[dict[str, Any]]:
    """Build the update bodies without leaving them queued for getUpdates or webhook."""
    updates = _queue_updates(fake, users, per_user)
    fake.state.updates.clear()
    return updates


async def _post_updates(url: str, updates: list[dict[str, Any]]) -> None:
    """POST each update to the webhook URL, at most WEBHOOK_CONNECTIONS at a time."""
    headers = {SECRET_HEADER: WEBHOOK_SECRET}
    connector = aiohttp.TCPConnector(limit=WEBHOOK_CONNECTIONS)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(update)

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            update = queue.get_nowait()
            async with session.post(url, json=update, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"webhook returned HTTP {response.status}")

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(sender(session) for _ in range(WEBHOOK_CONNECTIONS)))


class _ReplyCounter:
    """Count successful sendMessage calls recorded by the fake, reading only new records."""

    def __init__(self, fake: FakeTelegram) -> None:
        self._fake = fake
        self._seen = len(fake.requests)
        self.count = 0

    async def wait_for(self, expected: int) -> None:
        """Wait until `expected` replies were counted, or raise TimeoutError after a while."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while self.count < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {self.count} of {expected} replies within {REPLY_TIMEOUT:g} s"
                )
            await asyncio.sleep(0.01)
            records = self._fake.requests
            end = len(records)
            for record in records[self._seen : end]:
                if record.method == "sendMessage" and record.ok:
                    self.count += 1
            self._seen = end


async def _measure(
    threaded: ThreadedFakeTelegram, deliver: Callable[[], Awaitable[None]], expected: int
) -> Measurement:
    """Run `deliver` and wait for `expected` replies, timing the bot's share of the CPU."""
    assert threaded.fake is not None
    counter = _ReplyCounter(threaded.fake)
    fake_cpu_before = threaded.call(time.thread_time)
    cpu_before = time.process_time()
    started = time.perf_counter()

    await deliver()
    await counter.wait_for(expected)

    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    fake_cpu = threaded.call(time.thread_time) - fake_cpu_before
    return Measurement(expected, max(cpu - fake_cpu, 1e-9), wall)


@asynccontextmanager
async def _echo_bot(api_url: str, *, webhook: bool) -> AsyncIterator[str | None]:
    """Run the echo bot; yield its webhook URL, or None under long polling."""
    application = build_echo_application(BENCH_BOT_TOKEN, api_url)
    await application.initialize()
    server = EchoWebhookServer(application, WEBHOOK_SECRET) if webhook else None
    try:
        await application.start()
        if server is not None:
            await server.start()
        else:
            assert application.updater is not None
            await application.updater.start_polling()
        yield server.url if server is not None else None
    finally:
        if server is not None:
            await server.stop()
        elif application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()


@asynccontextmanager
async def _gramlink_bot(
    api_url: str, instagram_url: str, database_path: Path, *, webhook: bool, rate_limits: bool
) -> AsyncIterator[str | None]:
    """Run the whole Gramlink bot; yield its webhook URL, or None under long polling.

    Without `rate_limits`, the app gets a rate limiter that paces nothing.
    """
    settings = bench_settings(
        telegram_api_url=api_url,
        instagram_url=instagram_url,
        database_path=database_path,
        token=BENCH_BOT_TOKEN,
        webhook_secret=WEBHOOK_SECRET if webhook else None,
    )
    rate_limiter = None if rate_limits else GovernorRateLimiter(max_retries=TELEGRAM_MAX_RETRIES)
    app = create_app(settings, rate_limiter=rate_limiter)
    await app.start()
    try:
        yield f"{app.local_url}/telegram/webhook" if webhook else None
    finally:
        await app.stop()


async def _run_one(
    threaded: ThreadedFakeTelegram,
    bot_factory: Callable[[bool], Any],
    *,
    webhook: bool,
    users: int,
    per_user: int,
) -> Measurement:
    fake = threaded.fake
    assert fake is not None
    expected = users * per_user
    async with bot_factory(webhook) as webhook_url:
        if webhook_url is None:

            async def deliver() -> None:
                threaded.call(_queue_updates, fake, users, per_user)

        else:
            updates = threaded.call(_take_updates, fake, users, per_user)

            async def deliver() -> None:
                await threaded.run_async(_post_updates(webhook_url, updates))

        return await _measure(threaded, deliver, expected)


async def run(*, smoke: bool) -> list[Figure]:
    """Measure Gramlink and the echo bot under long polling and webhook."""
    users, per_user = (20, 10) if smoke else (500, 10)
    limited_users = 6 if smoke else 30
    feed = FakeFeed(media_count=1)
    await feed.start()
    threaded = ThreadedFakeTelegram()
    api_url = threaded.start().api_url
    results: dict[tuple[str, bool], Measurement] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="gramlink-bench-") as directory:
            runs = iter(range(1_000))

            def gramlink(webhook: bool, *, rate_limits: bool = False) -> Any:
                database_path = Path(directory) / f"throughput-{next(runs)}.db"
                return _gramlink_bot(
                    api_url,
                    feed.graph_url,
                    database_path,
                    webhook=webhook,
                    rate_limits=rate_limits,
                )

            def echo(webhook: bool) -> Any:
                return _echo_bot(api_url, webhook=webhook)

            for webhook in (False, True):
                for name, factory in (("echo", echo), ("gramlink", gramlink)):
                    results[name, webhook] = await _run_one(
                        threaded, factory, webhook=webhook, users=users, per_user=per_user
                    )
            limited = await _run_one(
                threaded,
                partial(gramlink, rate_limits=True),
                webhook=False,
                users=limited_users,
                per_user=per_user,
            )
    finally:
        threaded.stop()
        await feed.stop()

    size = f"{users * per_user:,} updates from {users} users, rate limiter off"
    figures = []
    for webhook, mode in ((False, "polling"), (True, "webhook")):
        ours, echo_bot = results["gramlink", webhook], results["echo", webhook]
        figures.append(
            Figure(
                f"{mode}: updates per CPU-second",
                ours.per_cpu_second,
                "upd/s",
                "PTB echo bot",
                echo_bot.per_cpu_second,
                note=f"{size}; bot CPU {ours.cpu_seconds:.2f} s vs {echo_bot.cpu_seconds:.2f} s",
            )
        )
        figures.append(
            Figure(
                f"{mode}: updates per wall second",
                ours.per_wall_second,
                "upd/s",
                "PTB echo bot",
                echo_bot.per_wall_second,
                note="fake Bot API shares the machine",
            )
        )
    figures.append(
        Figure(
            "polling, rate limiter on: wall",
            limited.per_wall_second,
            "upd/s",
            "PTB echo bot",
            results["echo", False].per_wall_second,
            note=f"{limited.updates} updates with the app's rate limiter as shipped",
        )
    )
    return figures
