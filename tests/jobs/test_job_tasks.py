"""Tests of the bot's periodic jobs and of the scheduler that `create_scheduler` builds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.jobs import create_scheduler
from bot.jobs.tasks import (
    JOB_CLEANUP,
    JOB_DELETION,
    JOB_REFRESH,
    JOB_SUBSCRIPTIONS,
    clean_up,
    poll_subscriptions,
    process_deletions,
    refresh_tokens,
)
from bot.services import Services
from bot.services.deletion import DeletionService
from bot.services.refresh import SweepSummary
from bot.services.subscriptions import PollSummary
from storage import DeletionStatus, OAuthStateClaim, Storage

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeRefresh:
    """Stands in for RefreshService and returns a fixed summary."""

    def __init__(self) -> None:
        self.sweeps = 0
        self.swept = asyncio.Event()

    async def sweep(self) -> SweepSummary:
        self.sweeps += 1
        self.swept.set()
        return SweepSummary(due=5, refreshed=3, failed=1, needs_reconnect=1, duration=0.01)


class FakeSubscriptions:
    """Stands in for SubscriptionService and counts polls."""

    def __init__(self) -> None:
        self.polls = 0
        self.summary = PollSummary(accounts=2, chats=3, delivered=4, failed=1, duration=0.01)

    async def poll(self) -> PollSummary:
        self.polls += 1
        return self.summary


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, telegram_bot_token="123456:TEST", sandbox=True, **overrides)


def make_services(storage: Storage, settings: Settings | None = None) -> Services:
    settings = settings or make_settings()
    # Only the services that the jobs call are real or faked; the others are never touched.
    return Services(
        settings=settings,
        storage=storage,
        instagram=None,  # type: ignore[arg-type]
        notifier=None,  # type: ignore[arg-type]
        accounts=None,  # type: ignore[arg-type]
        deletion=DeletionService(storage=storage, settings=settings, clock=lambda: NOW),
        feed=None,  # type: ignore[arg-type]
        delivery=None,  # type: ignore[arg-type]
        subscriptions=FakeSubscriptions(),  # type: ignore[arg-type]
        refresh=FakeRefresh(),  # type: ignore[arg-type]
    )


async def test_create_scheduler_adds_every_job(storage: Storage) -> None:
    settings = make_settings(refresh_interval_seconds=1800, poll_interval_seconds=120)

    scheduler = create_scheduler(make_services(storage, settings))

    assert scheduler.job_names == (JOB_REFRESH, JOB_DELETION, JOB_SUBSCRIPTIONS, JOB_CLEANUP)
    assert scheduler.interval(JOB_REFRESH) == timedelta(seconds=1800)
    assert scheduler.interval(JOB_DELETION) == timedelta(seconds=30)
    assert scheduler.interval(JOB_SUBSCRIPTIONS) == timedelta(seconds=120)
    assert scheduler.interval(JOB_CLEANUP) == timedelta(hours=1)


async def test_refresh_job_reports_sweep_counts(storage: Storage) -> None:
    services = make_services(storage)

    report = await refresh_tokens(services)

    assert services.refresh.sweeps == 1  # type: ignore[attr-defined]
    assert report.succeeded == 3
    assert report.failed == 2
    assert "5 tokens due" in report.action


async def test_deletion_job_completes_pending_requests(storage: Storage) -> None:
    services = make_services(storage)
    await storage.create_deletion_request(
        confirmation_code="del0000000000001", instagram_user_id="17841400000000042", now=NOW
    )

    report = await process_deletions(services)

    assert report.succeeded == 1
    assert report.action == "1 deletion request completed"
    assert report.idle is False
    request = await storage.get_deletion_request("del0000000000001")
    assert request is not None
    assert request.status is DeletionStatus.COMPLETED


async def test_poll_job_polls_subscriptions(storage: Storage) -> None:
    services = make_services(storage)

    report = await poll_subscriptions(services)

    assert services.subscriptions.polls == 1  # type: ignore[attr-defined]
    assert report.action == "2 accounts checked for 3 chats"
    assert report.idle is False
    assert report.succeeded == 4
    assert report.failed == 1
    assert report.succeeded_label == "posts delivered"
    assert report.failed_label == "deliveries failed"


async def test_poll_job_without_subscriptions_is_idle(storage: Storage) -> None:
    services = make_services(storage)
    subscriptions: FakeSubscriptions = services.subscriptions  # type: ignore[assignment]
    subscriptions.summary = PollSummary(accounts=0, chats=0, delivered=0, failed=0, duration=0.0)

    report = await poll_subscriptions(services)

    assert report.idle is True
    assert report.action == "0 accounts checked for 0 chats"


async def test_poll_job_counts_unreadable_accounts(storage: Storage) -> None:
    services = make_services(storage)
    subscriptions: FakeSubscriptions = services.subscriptions  # type: ignore[assignment]
    subscriptions.summary = PollSummary(
        accounts=1, chats=1, delivered=0, failed=0, duration=0.01, accounts_failed=1
    )

    report = await poll_subscriptions(services)

    assert report.action == "1 account checked for 1 chat, 1 could not be read from Instagram"


async def test_deletion_job_without_requests_is_idle(storage: Storage) -> None:
    report = await process_deletions(make_services(storage))

    assert report.idle is True
    assert report.action == "0 deletion requests completed"


async def test_cleanup_removes_old_states_and_sessions(storage: Storage) -> None:
    services = make_services(storage)
    await storage.create_oauth_state(
        state="expired-state",
        telegram_user_id=501,
        chat_id=501,
        now=NOW - timedelta(hours=1),
        ttl=timedelta(minutes=10),
    )
    await storage.create_oauth_state(
        state="fresh-state",
        telegram_user_id=502,
        chat_id=502,
        now=NOW - timedelta(minutes=1),
        ttl=timedelta(minutes=10),
    )
    account = await storage.save_account(
        telegram_user_id=501,
        instagram_user_id="17841400000000501",
        username="user_501",
        account_type="BUSINESS",
        access_token="IGAA-fake-501",
        token_issued_at=NOW - timedelta(days=20),
        token_expires_at=NOW + timedelta(days=40),
        now=NOW - timedelta(days=20),
    )
    old_session = await storage.create_browsing_session(
        telegram_user_id=501, account_id=account.id, now=NOW - timedelta(days=8)
    )
    recent_session = await storage.create_browsing_session(
        telegram_user_id=501, account_id=account.id, now=NOW - timedelta(days=1)
    )

    report = await clean_up(services, clock=lambda: NOW)

    assert report.succeeded == 2
    assert await storage.get_browsing_session(old_session.id) is None
    assert await storage.get_browsing_session(recent_session.id) is not None
    expired_claim, _ = await storage.claim_oauth_state("expired-state", now=NOW)
    assert expired_claim is OAuthStateClaim.UNKNOWN
    fresh_claim, _ = await storage.claim_oauth_state("fresh-state", now=NOW)
    assert fresh_claim is OAuthStateClaim.CLAIMED


async def test_missed_refresh_runs_once_on_start(storage: Storage) -> None:
    settings = make_settings(refresh_interval_seconds=3600)
    services = make_services(storage, settings)
    now = datetime.now(UTC)
    await storage.set_job_last_run(JOB_REFRESH, at=now - timedelta(hours=2))
    for name in (JOB_DELETION, JOB_SUBSCRIPTIONS, JOB_CLEANUP):
        await storage.set_job_last_run(name, at=now)
    refresh: FakeRefresh = services.refresh  # type: ignore[assignment]

    scheduler = create_scheduler(services)
    scheduler.start()
    try:
        await asyncio.wait_for(refresh.swept.wait(), timeout=5)
        # Give a second, coalesced run every chance to start.
        await asyncio.sleep(0.2)
    finally:
        await scheduler.shutdown()

    assert refresh.sweeps == 1
    assert services.subscriptions.polls == 0  # type: ignore[attr-defined]
    last_run = await storage.get_job_last_run(JOB_REFRESH)
    assert last_run is not None
    assert last_run >= now
