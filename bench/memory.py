"""Resident memory of the idle bot process with 100,000 accounts in its database.

`python -m bot` runs as a subprocess against the fake Bot API and a fake Instagram on
loopback. Once `/healthz` returns 200 and a settling pause has passed, the benchmark reads
`VmRSS` from `/proc/PID/status`. The baseline is a bare `python -c "import telegram,
aiohttp, httpx"` process, read the same way. Every job's last run is stored as now, so the
scheduler stays idle instead of refreshing the tokens that are due.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.accounts_db import AccountsDatabase, build_accounts_database
from bench.fake_feed import FakeFeed
from bench.fake_thread import BENCH_BOT_TOKEN
from bench.gramlink_app import bench_environment, free_port
from bench.report import Figure
from bot.jobs.tasks import JOB_CLEANUP, JOB_DELETION, JOB_REFRESH, JOB_SUBSCRIPTIONS
from bot.playground import FakeTelegram
from storage import open_storage

__all__ = ["run"]

GOAL_MIB = 120
STARTUP_TIMEOUT = 60.0
SETTLE_SECONDS = 2.0
_REPOSITORY = Path(__file__).resolve().parent.parent
_BASELINE_CODE = (
    "import sys, telegram, aiohttp, httpx; print('ready', flush=True); sys.stdin.read()"
)


def read_rss_mib(pid: int) -> float:
    """Return the resident set size of a process in MiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            kibibytes = int(line.split()[1])
            return kibibytes / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


def _child_environment(extra: dict[str, str]) -> dict[str, str]:
    """Keep only what Python needs from this environment, then add the bot's settings."""
    kept = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    kept["PYTHONPATH"] = str(_REPOSITORY)
    return {**kept, **extra}


async def _wait_for_health(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"python -m bot exited with status {process.returncode}")
            try:
                response = await client.get(url)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not return 200 within {STARTUP_TIMEOUT:g} s")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=15)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _measure_bot(count: int, telegram: FakeTelegram, feed: FakeFeed) -> float:
    """Start `python -m bot` on a database of `count` accounts and return its idle RSS in MiB."""
    now = datetime.now(UTC)
    database = await build_accounts_database(count, now=now)
    try:
        storage = await open_storage(database.url, encryption_key=database.encryption_key)
        try:
            for job in (JOB_REFRESH, JOB_DELETION, JOB_SUBSCRIPTIONS, JOB_CLEANUP):
                await storage.set_job_last_run(job, at=now)
        finally:
            await storage.close()
        return await _measure_bot_process(database, telegram, feed)
    finally:
        database.remove()


async def _measure_bot_process(
    database: AccountsDatabase, telegram: FakeTelegram, feed: FakeFeed
) -> float:
    port = free_port()
    environment = bench_environment(
        telegram_api_url=telegram.api_url,
        instagram_url=feed.graph_url,
        database_path=database.path,
        token=BENCH_BOT_TOKEN,
        encryption_key=database.encryption_key,
        http_port=port,
    )
    log_path = database.directory / "bot.log"
    with log_path.open("wb") as log:
        # The working directory is the temporary one, so no developer's .env is read.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=database.directory,
            env=_child_environment(environment),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                await _wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
            except (RuntimeError, TimeoutError) as exc:
                output = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"{exc}; last output of the bot:\n{output}") from None
            await asyncio.sleep(SETTLE_SECONDS)
            return read_rss_mib(process.pid)
        finally:
            await _stop(process)


def _measure_baseline() -> float:
    process = subprocess.Popen(
        [sys.executable, "-c", _BASELINE_CODE],
        env=_child_environment({}),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the baseline process did not start")
        return read_rss_mib(process.pid)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


async def run(*, smoke: bool) -> list[Figure]:
    """Start the bot with a large database, read its idle RSS, and compare with the baseline."""
    count = 2_000 if smoke else 100_000
    telegram = FakeTelegram(BENCH_BOT_TOKEN)
    feed = FakeFeed(media_count=1)
    await telegram.start()
    await feed.start()
    try:
        bot_mib = await _measure_bot(count, telegram, feed)
    finally:
        await feed.stop()
        await telegram.stop()
    baseline_mib = await asyncio.to_thread(_measure_baseline)
    return [
        Figure(
            "idle bot resident memory",
            bot_mib,
            "MiB",
            "bare import of telegram, aiohttp, httpx",
            baseline_mib,
            value_max=GOAL_MIB,
            note=f"{count:,} accounts in the database",
        )
    ]
