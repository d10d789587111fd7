"""Refresh of long-lived Instagram tokens before they expire.

A sweep pages through the accounts that storage reports as due and refreshes them with a
fixed pool of workers, so at most `settings.refresh_concurrency` requests are in flight. It
holds at most one batch of accounts at a time, plus the ids of the accounts it has seen.
"""

from __future__ import annotations

import asyncio
import html
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.clock import Clock, utc_now
from bot.instagram import InstagramError, InvalidTokenError, RateLimitError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.instagram import InstagramClient
    from bot.services.notifier import Notifier
    from storage import Account, Storage

__all__ = ["RefreshService", "SweepSummary", "backoff_delay"]

logger = logging.getLogger(__name__)

# Instagram refreshes only tokens that are at least 24 hours old.
MIN_TOKEN_AGE = timedelta(hours=24)

# Failed refreshes are retried after 5 min x 2^(failures so far), at most 12 h, +-20 %.
BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_MAX = timedelta(hours=12)
BACKOFF_JITTER = 0.2

# The user is warned once when refreshes keep failing this close to the expiry.
EXPIRY_WARNING_WINDOW = timedelta(days=3)
EXPIRY_WARNING_MIN_FAILURES = 2

# A rate-limited sweep pauses for the time given in Instagram's usage headers, or for the
# default when they give none. A longer wait, or more pauses than allowed, ends the sweep
# early. The remaining accounts stay due, so the next sweep picks them up.
RATE_LIMIT_DEFAULT_PAUSE = 60.0
RATE_LIMIT_MAX_PAUSE = 900.0
RATE_LIMIT_MAX_PAUSES = 3

DEFAULT_BATCH_SIZE = 200
DEFAULT_MAX_ACCOUNTS_PER_SWEEP = 50_000

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """Counts of one refresh sweep. `duration` is in seconds."""

    due: int
    refreshed: int
    failed: int
    needs_reconnect: int
    duration: float
    deferred: int = 0
    rate_limit_pauses: int = 0


@dataclass(slots=True)
class _SweepState:
    """Mutable bookkeeping shared by the producer and the workers of one sweep."""

    queue: asyncio.Queue[Account | None]
    seen: set[int] = field(default_factory=set)
    pending: set[int] = field(default_factory=set)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    resumed_at: float = 0.0
    stopped: bool = False
    pauses: int = 0
    refreshed: int = 0
    failed: int = 0
    needs_reconnect: int = 0
    deferred: int = 0

    def stop(self) -> None:
        """Stop dispatching, so that workers skip the accounts still queued."""
        self.stopped = True
        self.resume.set()


def backoff_delay(previous_failures: int, *, rng: random.Random) -> timedelta:
    """Return the wait before the next attempt after `previous_failures + 1` failures."""
    exponent = min(max(previous_failures, 0), 16)
    delay = min(BACKOFF_BASE * (1 << exponent), BACKOFF_MAX)
    factor = 1 + rng.uniform(-BACKOFF_JITTER, BACKOFF_JITTER)
    return delay * factor


class RefreshService:
    """Refreshes long-lived tokens before they expire and notifies users who must reconnect."""

    def __init__(
        self,
        *,
        storage: Storage,
        instagram: InstagramClient,
        notifier: Notifier,
        settings: Settings,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        bot_username: Callable[[], str | None] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_accounts_per_sweep: int = DEFAULT_MAX_ACCOUNTS_PER_SWEEP,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._storage = storage
        self._instagram = instagram
        self._notifier = notifier
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._bot_username = bot_username
        self._concurrency = settings.refresh_concurrency
        self._expires_within = timedelta(days=settings.refresh_before_days)
        self._batch_size = batch_size
        self._max_accounts = max_accounts_per_sweep

    async def sweep(self) -> SweepSummary:
        """Refresh every due token once, with bounded concurrency, and summarise the run."""
        started = time.monotonic()
        state = _SweepState(queue=asyncio.Queue(maxsize=2 * self._concurrency))
        state.resume.set()
        workers = [asyncio.create_task(self._work(state)) for _ in range(self._concurrency)]
        try:
            try:
                await self._enqueue_due_accounts(state)
            except BaseException:
                # In-flight refreshes still finish, so that a new token already issued by
                # Instagram is stored. The accounts still queued are left for the next sweep.
                state.stop()
                raise
            finally:
                for _ in workers:
                    await state.queue.put(None)
                await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

        return SweepSummary(
            due=len(state.seen),
            refreshed=state.refreshed,
            failed=state.failed,
            needs_reconnect=state.needs_reconnect,
            duration=time.monotonic() - started,
            deferred=state.deferred,
            rate_limit_pauses=state.pauses,
        )

    async def _enqueue_due_accounts(self, state: _SweepState) -> None:
        # Refreshed, failed and disconnected accounts drop out of the due set, so each query
        # returns new accounts plus at most the ones still queued or in flight.
        waited_for_pending = False
        while not state.stopped and len(state.seen) < self._max_accounts:
            limit = self._batch_size + len(state.pending)
            batch = await self._storage.accounts_due_for_refresh(
                now=self._clock(),
                expires_within=self._expires_within,
                min_age=MIN_TOKEN_AGE,
                limit=limit,
            )
            fresh = [account for account in batch if account.id not in state.seen]
            if not fresh:
                if len(batch) < limit or waited_for_pending or not state.pending:
                    return
                # The page contained only accounts still in progress, so wait for them to
                # finish and query once more.
                await state.queue.join()
                waited_for_pending = True
                continue

            waited_for_pending = False
            for account in fresh[: self._max_accounts - len(state.seen)]:
                state.seen.add(account.id)
                state.pending.add(account.id)
                await state.queue.put(account)

    async def _work(self, state: _SweepState) -> None:
        while True:
            account = await state.queue.get()
            try:
                if account is None:
                    return
                await self._process(account, state)
            finally:
                if account is not None:
                    state.pending.discard(account.id)
                state.queue.task_done()

    async def _process(self, account: Account, state: _SweepState) -> None:
        try:
            await self._refresh_account(account, state)
        except Exception:
            # One account's unexpected error (a storage failure, a bug) must not end the
            # sweep for everyone else. The account stays due and is retried next sweep.
            state.failed += 1
            logger.exception("Refreshing the token of account %d failed unexpectedly", account.id)

    async def _refresh_account(self, account: Account, state: _SweepState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await state.resume.wait()
            if state.stopped or account.access_token is None:
                state.deferred += 1
                return

            attempt_started = loop.time()
            try:
                token = await self._instagram.refresh(account.access_token)
            except RateLimitError as exc:
                if await self._pause_for_rate_limit(exc, state, attempt_started):
                    continue
                state.deferred += 1
                return
            except InvalidTokenError as exc:
                await self._mark_needs_reconnect(account, exc)
                state.needs_reconnect += 1
                return
            except InstagramError as exc:
                await self._record_failure(account, exc)
                state.failed += 1
                return

            # The expiry is counted from our clock, like every other time in storage.
            now = self._clock()
            await self._storage.update_token(
                account.id,
                access_token=token.access_token,
                token_issued_at=now,
                token_expires_at=now + timedelta(seconds=token.expires_in),
                now=now,
            )
            state.refreshed += 1
            logger.debug("Refreshed the token of account %d", account.id)
            return

    async def _pause_for_rate_limit(
        self, exc: RateLimitError, state: _SweepState, attempt_started: float
    ) -> bool:
        """Pause the whole sweep once per rate-limit error and return whether to retry."""
        if state.stopped:
            return False
        if attempt_started < state.resumed_at:
            # This request was sent before the last pause ended, so that pause covered it.
            return True
        if not state.resume.is_set():
            # Another worker is already pausing the sweep, so wait with it.
            await state.resume.wait()
            return not state.stopped

        delay = RATE_LIMIT_DEFAULT_PAUSE if exc.retry_after is None else exc.retry_after
        delay = max(delay, 0.0)
        if delay > RATE_LIMIT_MAX_PAUSE or state.pauses >= RATE_LIMIT_MAX_PAUSES:
            logger.warning(
                "Instagram rate limit during the refresh sweep (code %s, retry after %.0f s); "
                "ending the sweep after %d pauses and leaving the rest for the next sweep",
                exc.code,
                delay,
                state.pauses,
            )
            state.stop()
            return False

        state.pauses += 1
        logger.warning(
            "Instagram rate limit during the refresh sweep (code %s); pausing for %.0f s "
            "(pause %d of at most %d)",
            exc.code,
            delay,
            state.pauses,
            RATE_LIMIT_MAX_PAUSES,
        )
        state.resume.clear()
        try:
            await self._sleep(delay)
        finally:
            state.resumed_at = asyncio.get_running_loop().time()
            state.resume.set()
        return not state.stopped

    async def _mark_needs_reconnect(self, account: Account, exc: InvalidTokenError) -> None:
        now = self._clock()
        changed = await self._storage.mark_needs_reconnect(
            account.id, error=_describe_error(exc), now=now
        )
        if not changed:
            return

        logger.info(
            "Account %d needs reconnection: Instagram rejected its token (code %s)",
            account.id,
            exc.code,
        )
        text = (
            f"Instagram no longer accepts Gramlink's access to "
            f"@{html.escape(account.username)}, so your photos can't be fetched any more. "
            "Connect the account again to continue."
        )
        await self._send_with_reconnect_button(account.telegram_user_id, text)

    async def _record_failure(self, account: Account, exc: InstagramError) -> None:
        now = self._clock()
        delay = backoff_delay(account.refresh_failures, rng=self._rng)
        if account.token_expires_at is not None:
            # Near the expiry, wait at most half the time left, so another attempt comes before it.
            delay = min(delay, (account.token_expires_at - now) / 2)
        next_attempt_at = now + max(delay, timedelta(0))
        failures = await self._storage.record_refresh_failure(
            account.id, error=_describe_error(exc), now=now, next_attempt_at=next_attempt_at
        )
        logger.warning(
            "Refreshing the token of account %d failed (%s); failure %d, next attempt at %s",
            account.id,
            _describe_error(exc),
            failures,
            next_attempt_at.isoformat(timespec="seconds"),
        )
        await self._warn_about_expiry(account, failures, now)

    async def _warn_about_expiry(self, account: Account, failures: int, now: datetime) -> None:
        expires_at = account.token_expires_at
        if expires_at is None or expires_at - now > EXPIRY_WARNING_WINDOW:
            return
        if failures < EXPIRY_WARNING_MIN_FAILURES:
            return
        if not await self._storage.mark_expiry_warned(account.id, now=now):
            return

        logger.info("Warning the user of account %d about the coming token expiry", account.id)
        text = (
            f"Gramlink can't renew its access to @{html.escape(account.username)} right now. "
            f"The access expires on {expires_at:%Y-%m-%d %H:%M} UTC. Gramlink keeps trying; "
            "if the access runs out, connect the account again."
        )
        await self._send_with_reconnect_button(account.telegram_user_id, text)

    async def _send_with_reconnect_button(self, chat_id: int, text: str) -> None:
        username = self._current_bot_username()
        if username:
            await self._notifier.send_text(
                chat_id=chat_id,
                text=text,
                url_button=("Reconnect", f"https://t.me/{username}?start=connect"),
            )
            return
        # Without the bot's username there is no deep link, so the text names the command.
        await self._notifier.send_text(chat_id=chat_id, text=f"{text} Send /connect to do it.")

    def _current_bot_username(self) -> str | None:
        if self._bot_username is None:
            return None
        try:
            return self._bot_username()
        except RuntimeError:
            # python-telegram-bot raises RuntimeError for `Bot.username` before `get_me`.
            logger.debug("The bot's username is not known yet; sending no reconnect button")
            return None


def _describe_error(exc: InstagramError) -> str:
    """Summarise an Instagram error for storage and logs. The client keeps tokens out of it."""
    description = f"{type(exc).__name__}: {exc}"
    if exc.code is not None:
        description += f" (code {exc.code})"
    return description[:300]
