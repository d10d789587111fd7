"""Command latency: `/media` from the update to its last Bot API call, against bare calls.

The whole bot runs in this process (`create_app` in webhook mode, so nothing polls), with
its real handlers and services, against the fake Bot API and `FakeFeed`, which respond
at once. Each run hands one `/media` update to `Application.process_update` and times it
until the handler returns, after the albums (sendMediaGroup) and the control message with
the Older / Newer buttons. The connected account's feed has carousels, so a page becomes
several albums.

The baseline replays, with one plain `httpx.AsyncClient`, exactly the HTTP calls that one
bot run made: the Instagram requests and the Bot API requests with the same parameters.
The bot's own share is what is left: handler and service code, storage, python-telegram-bot.
A second baseline makes the same Bot API calls through a plain python-telegram-bot `Bot`
(no rate limiter), to show how much of that share the library itself takes.

The first run fills the file_id cache (Telegram fetches each media URL once) and is not
counted. Between runs the benchmark waits until the previous run's messages have left the
send governor's one-second sliding window, so the figure is the bot's work and not the
throttling that a burst of 200 commands would rightly get.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
from telegram import Bot, InputMediaPhoto, InputMediaVideo, Message, Update
from telegram.warnings import PTBUserWarning

from bench.fake_feed import FakeFeed
from bench.fake_thread import BENCH_BOT_TOKEN
from bench.gramlink_app import running_bot
from bench.report import Figure, percentile
from bot.app import GramlinkApp
from bot.clock import utc_now
from bot.playground import FakeTelegram
from bot.playground.calls import RecordedCall
from bot.services.pacing import DEFAULT_WINDOW_MARGIN

__all__ = ["run"]

USER_ID = 5_550_001
WEBHOOK_SECRET = "bench-webhook-secret"
# The window of Telegram's overall limit of 30 messages, as the bot's send governor keeps it.
GOVERNOR_WINDOW_SECONDS = 1.0 + DEFAULT_WINDOW_MARGIN
GOAL_RATIO = 1.2


def _media_update(fake: FakeTelegram, application_bot: Any) -> Update:
    """Build a `/media` update from the fake's user, leaving nothing queued for delivery."""
    data = fake.send_message(USER_ID, "/media")
    fake.state.updates.clear()
    return Update.de_json(data, application_bot)


async def _connect_account(app: GramlinkApp) -> None:
    now = utc_now()
    await app.services.storage.upsert_telegram_user(USER_ID, "bench_user", "Bench")
    await app.services.storage.save_account(
        telegram_user_id=USER_ID,
        instagram_user_id="17841400000000001",
        username="bench_user",
        account_type="MEDIA_CREATOR",
        access_token="IGQVJbenchLatencyToken",
        token_issued_at=now,
        token_expires_at=now.replace(year=now.year + 1),
        now=now,
    )


async def _run_bot_once(
    app: GramlinkApp, fake: FakeTelegram, feed: FakeFeed
) -> tuple[float, list[RecordedCall], list[str]]:
    """Process one `/media` update; return seconds and the Bot API and Instagram calls."""
    update = _media_update(fake, app.application.bot)
    telegram_start, instagram_start = len(fake.requests), len(feed.request_log)

    started = time.perf_counter()
    await app.application.process_update(update)
    elapsed = time.perf_counter() - started

    calls = fake.requests[telegram_start:]
    failed = [call for call in calls if not call.ok]
    if failed:
        raise RuntimeError(
            f"the fake Bot API rejected {failed[0].method}: {failed[0].description}"
        )
    if not any(call.method == "sendMediaGroup" for call in calls):
        raise RuntimeError("/media sent no album; is the account connected?")
    return elapsed, calls, feed.request_log[instagram_start:]


def _form_fields(params: dict[str, Any]) -> dict[str, str]:
    """Encode parameters as python-telegram-bot does: objects as JSON, the rest as text."""
    return {
        name: value if isinstance(value, str) else json.dumps(value)
        for name, value in params.items()
    }


async def _run_bare_once(
    client: httpx.AsyncClient,
    telegram_url: str,
    instagram_url: str,
    calls: list[RecordedCall],
    instagram_paths: list[str],
) -> float:
    """Make the recorded calls directly, in the bot's order; return the seconds taken."""
    started = time.perf_counter()
    for path in instagram_paths:
        (await client.get(f"{instagram_url}{path}")).raise_for_status()
    for call in calls:
        response = await client.post(
            f"{telegram_url}/bot{BENCH_BOT_TOKEN}/{call.method}", data=_form_fields(call.params)
        )
        response.raise_for_status()
    return time.perf_counter() - started


async def _run_ptb_once(
    bot: Bot,
    client: httpx.AsyncClient,
    instagram_url: str,
    calls: list[RecordedCall],
    instagram_paths: list[str],
) -> float:
    """Make the recorded Bot API calls through a plain PTB `Bot`; return the seconds taken.

    Sent messages are parsed into `Message` objects, as the bot's own calls are.
    """
    started = time.perf_counter()
    for path in instagram_paths:
        (await client.get(f"{instagram_url}{path}")).raise_for_status()
    for call in calls:
        params = dict(call.params)
        if "media" in params:
            params["media"] = [_input_media(item) for item in params["media"]]
        return_type = Message if call.method.startswith("send") else None
        await bot.do_api_request(call.method, api_kwargs=params, return_type=return_type)
    return time.perf_counter() - started


def _input_media(item: dict[str, Any]) -> InputMediaPhoto | InputMediaVideo:
    """Rebuild an album item as PTB's InputMedia, which its request code expects."""
    options = {
        "caption": item.get("caption"),
        "parse_mode": item.get("parse_mode"),
    }
    if item.get("type") == "video":
        return InputMediaVideo(
            item["media"], supports_streaming=item.get("supports_streaming"), **options
        )
    return InputMediaPhoto(item["media"], **options)


def _items_sent(calls: list[RecordedCall]) -> int:
    items = 0
    for call in calls:
        if call.method == "sendMediaGroup":
            items += len(call.params.get("media", []))
        elif call.method in ("sendPhoto", "sendVideo"):
            items += 1
    return items


async def run(*, smoke: bool) -> list[Figure]:
    """Time `/media` through the bot and as bare calls, and compare p50 and p99."""
    runs = 10 if smoke else 200
    telegram = FakeTelegram(BENCH_BOT_TOKEN)
    feed = FakeFeed(media_count=40)
    await telegram.start()
    await feed.start()
    bot_seconds: list[float] = []
    bare_seconds: list[float] = []
    ptb_seconds: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="gramlink-bench-") as directory:
            async with running_bot(
                telegram_api_url=telegram.api_url,
                instagram_url=feed.graph_url,
                database_path=Path(directory) / "latency.db",
                token=BENCH_BOT_TOKEN,
                webhook_secret=WEBHOOK_SECRET,
            ) as app:
                await _connect_account(app)
                _, calls, instagram_paths = await _run_bot_once(app, telegram, feed)
                # A run sends more than half of the 30 messages a window allows, so each run
                # waits a whole window, and a little longer.
                pause = GOVERNOR_WINDOW_SECONDS * 1.1
                for _ in range(runs):
                    await asyncio.sleep(pause)
                    elapsed, calls, instagram_paths = await _run_bot_once(app, telegram, feed)
                    bot_seconds.append(elapsed)

            async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
                for _ in range(runs + 1):
                    bare_seconds.append(
                        await _run_bare_once(
                            client, telegram.api_url, feed.graph_url, calls, instagram_paths
                        )
                    )
                bare_seconds.pop(0)  # the first run opens the connections

                bot = Bot(
                    BENCH_BOT_TOKEN,
                    base_url=f"{telegram.api_url}/bot",
                    base_file_url=f"{telegram.api_url}/file/bot",
                )
                async with bot:
                    # do_api_request warns that Bot has a method for each of these calls.
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", PTBUserWarning)
                        for _ in range(runs + 1):
                            ptb_seconds.append(
                                await _run_ptb_once(
                                    bot, client, feed.graph_url, calls, instagram_paths
                                )
                            )
                ptb_seconds.pop(0)
    finally:
        await feed.stop()
        await telegram.stop()

    albums = sum(call.method == "sendMediaGroup" for call in calls)
    bot_mean, bare_mean = statistics.fmean(bot_seconds), statistics.fmean(bare_seconds)
    shape = (
        f"{runs} runs; {albums} albums, {_items_sent(calls)} items, "
        f"{len(calls)} Bot API and {len(instagram_paths)} Instagram calls each"
    )
    return [
        Figure(
            "/media p50",
            percentile(bot_seconds, 0.5) * 1000,
            "ms",
            "bare calls",
            percentile(bare_seconds, 0.5) * 1000,
            goal_max=GOAL_RATIO,
            note=shape,
        ),
        Figure(
            "/media p99",
            percentile(bot_seconds, 0.99) * 1000,
            "ms",
            "bare calls",
            percentile(bare_seconds, 0.99) * 1000,
        ),
        Figure(
            "/media p50",
            percentile(bot_seconds, 0.5) * 1000,
            "ms",
            "same calls through a plain PTB Bot",
            percentile(ptb_seconds, 0.5) * 1000,
            note="this baseline includes python-telegram-bot's own cost per call",
        ),
        Figure(
            "bot's own time per /media (mean)",
            (bot_mean - bare_mean) * 1000,
            "ms",
            "whole /media (mean)",
            bot_mean * 1000,
            note="ratio = the bot's share of the time",
        ),
    ]
