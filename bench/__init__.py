"""Benchmarks that run the bot against loopback fakes and compare it with baselines.

Each benchmark module has `async def run(*, smoke: bool) -> list[Figure]`. `python -m bench`
runs them in the order below, each in a fresh event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BENCHMARKS", "Benchmark"]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A benchmark's module inside `bench` and a one-line description of what it measures."""

    module: str
    description: str


BENCHMARKS: dict[str, Benchmark] = {
    "latency": Benchmark(
        "command_latency",
        "/media from update to the last Bot API call, against the same calls made bare",
    ),
    "throughput": Benchmark(
        "update_throughput",
        "updates per CPU-second by long polling and webhook, against a plain echo bot",
    ),
    "refresh": Benchmark(
        "refresh_sweep",
        "token refresh sweep time against the ideal n x latency / concurrency and a serial loop",
    ),
    "paging": Benchmark(
        "paging",
        "fetching a whole 2,000-media feed, against python-facebook-api on the same fake",
    ),
    "fanout": Benchmark(
        "fanout",
        "one new post to 1,000 subscribed groups under Telegram's rate limits, against the ideal",
    ),
    "storage": Benchmark(
        "storage_query",
        "due-for-refresh query over 100,000 accounts, against the same query without its index",
    ),
    "memory": Benchmark(
        "memory",
        "resident memory of the idle bot process, against a bare import of its libraries",
    ),
    "filecache": Benchmark(
        "file_cache",
        "sending the same 100 media twice: downloads and time of the second round",
    ),
}
