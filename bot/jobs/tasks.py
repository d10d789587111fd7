"""The bot's periodic jobs: token refresh, data deletion, subscription polling and clean-up."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from bot.clock import Clock, utc_now
from bot.jobs.scheduler import JobReport, JobScheduler

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "BROWSING_SESSION_MAX_AGE",
    "CLEANUP_INTERVAL",
    "DELETION_INTERVAL",
    "JOB_CLEANUP",
    "JOB_DELETION",
    "JOB_REFRESH",
    "JOB_SUBSCRIPTIONS",
    "clean_up",
    "create_scheduler",
    "poll_subscriptions",
    "process_deletions",
    "refresh_tokens",
]

JOB_REFRESH = "refresh_tokens"
JOB_DELETION = "process_deletions"
JOB_SUBSCRIPTIONS = "poll_subscriptions"
JOB_CLEANUP = "clean_up"

# Data must be deleted within 60 seconds of a deletion request, so the job runs every
# 30 seconds.
DELETION_INTERVAL = timedelta(seconds=30)
CLEANUP_INTERVAL = timedelta(hours=1)
# The Older / Newer buttons of a /media message stop working after this long without use.
BROWSING_SESSION_MAX_AGE = timedelta(days=7)


def create_scheduler(services: Services, *, clock: Clock = utc_now) -> JobScheduler:
    """Create the scheduler with every periodic job of the bot. Call `start()` to run it."""
    settings = services.settings
    scheduler = JobScheduler(services.storage, clock=clock)
    scheduler.add_job(
        JOB_REFRESH,
        partial(refresh_tokens, services),
        interval=timedelta(seconds=settings.refresh_interval_seconds),
    )
    scheduler.add_job(
        JOB_DELETION, partial(process_deletions, services), interval=DELETION_INTERVAL
    )
    scheduler.add_job(
        JOB_SUBSCRIPTIONS,
        partial(poll_subscriptions, services),
        interval=timedelta(seconds=settings.poll_interval_seconds),
    )
    scheduler.add_job(
        JOB_CLEANUP, partial(clean_up, services, clock=clock), interval=CLEANUP_INTERVAL
    )
    return scheduler


async def refresh_tokens(services: Services) -> JobReport:
    """Refresh the long-lived tokens that expire soon."""
    summary = await services.refresh.sweep()
    action = (
        f"{summary.due} tokens due, {summary.refreshed} refreshed, "
        f"{summary.needs_reconnect} need reconnection, {summary.deferred} left for the next run"
    )
    if summary.rate_limit_pauses:
        action += f", {summary.rate_limit_pauses} rate-limit pauses"
    return JobReport(
        action=action,
        succeeded=summary.refreshed,
        failed=summary.failed + summary.needs_reconnect,
    )


async def process_deletions(services: Services) -> JobReport:
    """Carry out pending data-deletion requests."""
    completed = await services.deletion.process_pending()
    # The job runs every 30 seconds and usually finds nothing, which is logged at DEBUG.
    return JobReport(
        action=f"{_count(completed, 'deletion request')} completed",
        succeeded=completed,
        idle=completed == 0,
    )


async def poll_subscriptions(services: Services) -> JobReport:
    """Check subscribed accounts for new posts and deliver them."""
    summary = await services.subscriptions.poll()
    action = f"{_count(summary.accounts, 'account')} checked for {_count(summary.chats, 'chat')}"
    if summary.accounts_failed:
        action += f", {summary.accounts_failed} could not be read from Instagram"
    return JobReport(
        action=action,
        succeeded=summary.delivered,
        failed=summary.failed,
        succeeded_label="posts delivered",
        failed_label="deliveries failed",
        # A poll without any subscribed account does nothing, so it is logged at DEBUG.
        idle=summary.accounts == 0,
    )


async def clean_up(services: Services, *, clock: Clock = utc_now) -> JobReport:
    """Purge expired OAuth states and browsing sessions unused for a week."""
    now = clock()
    storage = services.storage
    states = await storage.purge_oauth_states(now=now)
    sessions = await storage.purge_browsing_sessions(older_than=now - BROWSING_SESSION_MAX_AGE)
    return JobReport(
        action=f"{states} OAuth states and {sessions} browsing sessions purged",
        succeeded=states + sessions,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
