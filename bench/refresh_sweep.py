"""Token refresh sweep: 10,000 due tokens against a fake Graph API that waits 20 ms a call.

The real `RefreshService` and `InstagramClient` refresh every token of a temporary SQLite
file. The fake (`bench.fake_instagram`) runs in a subprocess, so its 20 ms timers do not
share an event loop with the sweep, much like a remote server. Both processes still share
the machine's CPUs. Figures:

- sweep time against the ideal `count x latency / concurrency`, with the goal ratio <= 1.3;
- sweep time against a serial loop (refresh, then store, one token at a time), measured on
  a subset of tokens and scaled linearly to the full count;
- tracemalloc peak of a second sweep over a copy of the database, against the peak of a
  sweep over a tenth of the tokens: a ratio near 1 means memory does not grow with the count;
- ru_maxrss of the process after the sweeps, against ru_maxrss before them.

Run `python -m bench.refresh_sweep [--count N] [--concurrency N] [--latency-ms MS]
[--smoke]`, or `python -m bench --only refresh`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bench.report import Figure, format_figure, format_header
from bot.clock import utc_now
from bot.config import Settings
from bot.instagram import InstagramClient
from bot.services.refresh import RefreshService
from storage import Storage, open_storage

__all__ = ["SweepBenchmark", "run"]

FULL_COUNT = 10_000
SMOKE_COUNT = 200
SERIAL_FULL_COUNT = 200
SERIAL_SMOKE_COUNT = 40
DEFAULT_LATENCY_MS = 20.0
REFRESH_GOAL = 1.3
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SweepBenchmark:
    """Sizes of one benchmark run. `latency_ms` is the fake's delay before each response."""

    count: int
    concurrency: int
    latency_ms: float
    serial_count: int


class _SilentNotifier:
    """Counts messages instead of sending them. A healthy sweep sends none."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_text(
        self, chat_id: int, text: str, *, url_button: tuple[str, str] | None = None
    ) -> bool:
        self.sent += 1
        return True


@asynccontextmanager
async def fake_instagram(latency_ms: float) -> AsyncIterator[str]:
    """Start `bench.fake_instagram` in a subprocess and yield its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fake_instagram",
        "--latency-ms",
        str(latency_ms),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=15)
        prefix = "listening on "
        text = line.decode().strip()
        if not text.startswith(prefix):
            raise RuntimeError(f"bench.fake_instagram did not start: {text!r}")
        yield text.removeprefix(prefix)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=5)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _seed(path: Path, key: str, count: int, *, now: datetime, offset: int) -> None:
    """Store `count` active accounts whose 50-day-old tokens expire within 1-9 days."""
    storage = await open_storage(f"sqlite:///{path}", encryption_key=key)
    try:
        for index in range(count):
            user = offset + index
            expires_at = now + timedelta(days=1) + timedelta(days=8) * index / max(count, 1)
            await storage.save_account(
                telegram_user_id=1_000_000 + user,
                instagram_user_id=str(17_841_400_000_000_000 + user),
                username=f"bench_user_{user}",
                account_type="BUSINESS",
                access_token=f"IGAA-bench-seed-{user:07d}",
                token_issued_at=now - timedelta(days=50),
                token_expires_at=expires_at,
                now=now - timedelta(days=50),
            )
    finally:
        await storage.close()


def _instagram(graph_url: str) -> InstagramClient:
    return InstagramClient(
        client_id="1000000000000001",
        client_secret="bench-app-secret",
        redirect_uri="http://127.0.0.1/oauth/callback",
        api_url=graph_url,
        graph_url=graph_url,
        authorize_url=f"{graph_url}/oauth/authorize",
    )


def _refresh_service(
    storage: Storage, instagram: InstagramClient, concurrency: int
) -> RefreshService:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=SecretStr("123456:BENCH"),
        sandbox=True,
        refresh_concurrency=concurrency,
    )
    return RefreshService(
        storage=storage,
        instagram=instagram,
        notifier=_SilentNotifier(),  # type: ignore[arg-type]
        settings=settings,
    )


@dataclass(frozen=True, slots=True)
class _SweepResult:
    """Wall-clock and CPU seconds of one sweep (CPU of this process, all threads)."""

    elapsed: float
    cpu: float
    refreshed: int


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _sweep(path: Path, key: str, graph_url: str, concurrency: int) -> _SweepResult:
    """Sweep the database at `path` and time it."""
    storage = await open_storage(f"sqlite:///{path}", encryption_key=key)
    try:
        async with _instagram(graph_url) as instagram:
            service = _refresh_service(storage, instagram, concurrency)
            cpu_started = _cpu_seconds()
            started = time.perf_counter()
            summary = await service.sweep()
            elapsed = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu_started
    finally:
        await storage.close()
    if summary.failed or summary.needs_reconnect or summary.deferred:
        raise RuntimeError(f"the sweep did not refresh every token cleanly: {summary}")
    return _SweepResult(elapsed=elapsed, cpu=cpu, refreshed=summary.refreshed)


async def _traced_sweep(path: Path, key: str, graph_url: str, concurrency: int) -> float:
    """Sweep under tracemalloc and return the traced peak in MiB."""
    tracemalloc.start()
    try:
        await _sweep(path, key, graph_url, concurrency)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / MIB


async def _serial_loop(path: Path, key: str, graph_url: str) -> tuple[float, int]:
    """Refresh and store every due token one at a time, and return elapsed seconds and count."""
    storage = await open_storage(f"sqlite:///{path}", encryption_key=key)
    refreshed = 0
    try:
        async with _instagram(graph_url) as instagram:
            due = await storage.accounts_due_for_refresh(
                now=utc_now(),
                expires_within=timedelta(days=10),
                min_age=timedelta(hours=24),
                limit=1_000_000,
            )
            started = time.perf_counter()
            for account in due:
                assert account.access_token is not None
                token = await instagram.refresh(account.access_token)
                now = utc_now()
                await storage.update_token(
                    account.id,
                    access_token=token.access_token,
                    token_issued_at=now,
                    token_expires_at=now + timedelta(seconds=token.expires_in),
                    now=now,
                )
                refreshed += 1
            elapsed = time.perf_counter() - started
    finally:
        await storage.close()
    return elapsed, refreshed


def _max_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _fake_max_in_flight(graph_url: str) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{graph_url}/stats")
    return int(response.json()["max_in_flight"])


async def measure(config: SweepBenchmark) -> list[Figure]:
    """Seed the databases, run the sweeps and the serial loop, and return the figures."""
    directory = Path(tempfile.mkdtemp(prefix="gramlink-bench-refresh-"))
    key = Fernet.generate_key().decode()
    now = utc_now()
    timed = directory / "timed.db"
    traced = directory / "traced.db"
    traced_small = directory / "traced-small.db"
    serial = directory / "serial.db"
    small_count = max(config.count // 10, 1)
    try:
        await _seed(timed, key, config.count, now=now, offset=0)
        shutil.copyfile(timed, traced)
        await _seed(traced_small, key, small_count, now=now, offset=config.count)
        await _seed(serial, key, config.serial_count, now=now, offset=2 * config.count)
        rss_before = _max_rss_mib()

        async with fake_instagram(config.latency_ms) as graph_url:
            serial_elapsed, serial_refreshed = await _serial_loop(serial, key, graph_url)
            timed_sweep = await _sweep(timed, key, graph_url, config.concurrency)
            peak_small = await _traced_sweep(traced_small, key, graph_url, config.concurrency)
            peak_full = await _traced_sweep(traced, key, graph_url, config.concurrency)
            max_in_flight = await _fake_max_in_flight(graph_url)
        rss_after = _max_rss_mib()
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    elapsed = timed_sweep.elapsed
    ideal = config.count * config.latency_ms / 1000 / config.concurrency
    serial_scaled = serial_elapsed * config.count / serial_refreshed
    return [
        Figure(
            name="sweep time",
            value=elapsed,
            unit="s",
            baseline_name="ideal n x latency / concurrency",
            baseline=ideal,
            goal_max=REFRESH_GOAL,
            note=(
                f"{timed_sweep.refreshed} tokens, concurrency {config.concurrency}, "
                f"{config.latency_ms:g} ms latency, fake saw at most {max_in_flight} in flight, "
                f"sweep used {timed_sweep.cpu:.1f} s CPU "
                f"({timed_sweep.cpu * 1000 / timed_sweep.refreshed:.2f} ms per token)"
            ),
        ),
        Figure(
            name="sweep time",
            value=elapsed,
            unit="s",
            baseline_name="serial loop",
            baseline=serial_scaled,
            note=(
                f"serial loop measured on {serial_refreshed} tokens in {serial_elapsed:.2f} s "
                f"and scaled to {config.count}"
            ),
        ),
        Figure(
            name="tracemalloc peak of a sweep",
            value=peak_full,
            unit="MiB",
            baseline_name=f"same for {small_count} tokens",
            baseline=peak_small,
            note=f"{config.count} tokens in a second, traced sweep",
        ),
        Figure(
            name="ru_maxrss after the sweeps",
            value=rss_after,
            unit="MiB",
            baseline_name="before them",
            baseline=rss_before,
        ),
    ]


async def run(*, smoke: bool) -> list[Figure]:
    """Run at full size, or at a few seconds' size with `smoke`, with default settings."""
    config = SweepBenchmark(
        count=SMOKE_COUNT if smoke else FULL_COUNT,
        concurrency=Settings.model_fields["refresh_concurrency"].default,
        latency_ms=DEFAULT_LATENCY_MS,
        serial_count=SERIAL_SMOKE_COUNT if smoke else SERIAL_FULL_COUNT,
    )
    return await measure(config)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the benchmark and print one line per figure."""
    default_concurrency = Settings.model_fields["refresh_concurrency"].default
    parser = argparse.ArgumentParser(
        prog="python -m bench.refresh_sweep", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--count", type=int, default=None, help=f"due tokens to sweep (default {FULL_COUNT})"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=default_concurrency,
        help=f"REFRESH_CONCURRENCY for the sweep (default {default_concurrency})",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=DEFAULT_LATENCY_MS,
        help=f"fake Graph API delay per refresh, in ms (default {DEFAULT_LATENCY_MS:g})",
    )
    parser.add_argument(
        "--serial-count",
        type=int,
        default=None,
        help=f"tokens for the serial baseline (default {SERIAL_FULL_COUNT})",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a few seconds' run: {SMOKE_COUNT} tokens, {SERIAL_SMOKE_COUNT} for the baseline",
    )
    arguments = parser.parse_args(argv)
    count = arguments.count or (SMOKE_COUNT if arguments.smoke else FULL_COUNT)
    serial_count = arguments.serial_count or (
        SERIAL_SMOKE_COUNT if arguments.smoke else SERIAL_FULL_COUNT
    )
    if count < 1 or serial_count < 1 or not 1 <= arguments.concurrency <= 256:
        parser.error("--count and --serial-count must be positive, --concurrency 1 to 256")

    config = SweepBenchmark(
        count=count,
        concurrency=arguments.concurrency,
        latency_ms=arguments.latency_ms,
        serial_count=serial_count,
    )
    print(format_header(smoke=arguments.smoke), flush=True)
    for figure in asyncio.run(measure(config)):
        print(format_figure("refresh", figure, smoke=arguments.smoke), flush=True)


if __name__ == "__main__":
    main()
