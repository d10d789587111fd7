"""Run a FakeTelegram in its own thread and event loop, apart from the bot being measured.

The throughput benchmark reads the CPU time of the bot's thread alone, so the fake Bot API
and the code that feeds it updates must run on another thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from bot.playground import FakeTelegram

__all__ = ["ThreadedFakeTelegram"]

T = TypeVar("T")

BENCH_BOT_TOKEN = "123456:BENCH-bot-token"


class ThreadedFakeTelegram:
    """A FakeTelegram served by an event loop on a daemon thread.

    `call` and `run` execute code on that loop and block the calling thread until it is done,
    so they must not be used from inside the fake's own loop.
    """

    def __init__(self, token: str = BENCH_BOT_TOKEN, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-telegram", daemon=True
        )
        self._token = token
        self._options = options
        self.fake: FakeTelegram | None = None

    def start(self) -> FakeTelegram:
        """Start the thread and the fake server on it; return the fake."""
        self._thread.start()
        self.fake = self.run(self._create_and_start())
        return self.fake

    async def _create_and_start(self) -> FakeTelegram:
        fake = FakeTelegram(self._token, **self._options)
        await fake.start()
        return fake

    def stop(self) -> None:
        """Stop the fake server, then the loop and the thread."""
        if self.fake is not None:
            self.run(self.fake.stop())
            self.fake = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        """Run a coroutine on the fake's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def call(self, function: Callable[..., T], *args: Any, timeout: float = 120.0) -> T:
        """Call a plain function on the fake's loop and return its result."""
        future: Future[T] = Future()

        def _invoke() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # handed to the waiting thread, which re-raises it
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(_invoke)
        return future.result(timeout)

    async def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine that runs on the fake's loop, from another running loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))
