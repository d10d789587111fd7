"""Tests of the job scheduler with real APScheduler timing and in-memory storage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.jobs import JobReport, JobScheduler
from storage import Storage

WAIT_TIMEOUT = 5.0


class CountingJob:
    """A job that counts its runs and how many of them overlap."""

    def __init__(self, *, duration: float = 0.0, fail_first: int = 0) -> None:
        self.duration = duration
        self.fail_first = fail_first
        self.runs = 0
        self.finished = 0
        self.active = 0
        self.max_active = 0
        self.started = asyncio.Event()
        self.ran_twice = asyncio.Event()

    async def __call__(self) -> JobReport:
        self.runs += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.started.set()
        if self.runs >= 2:
            self.ran_twice.set()
        try:
            if self.duration:
                await asyncio.sleep(self.duration)
            if self.runs <= self.fail_first:
                raise RuntimeError(f"run {self.runs} failed on purpose")
            self.finished += 1
            return JobReport(action="counted one run", succeeded=3, failed=1)
        finally:
            self.active -= 1


async def wait_for(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), WAIT_TIMEOUT)


async def wait_until(condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(WAIT_TIMEOUT):
        while not await condition():  # noqa: ASYNC110 - polls state that has no event
            await asyncio.sleep(0.01)


async def test_never_run_job_runs_on_start(storage: Storage) -> None:
    job = CountingJob()
    scheduler = JobScheduler(storage)
    scheduler.add_job("tick", job, interval=timedelta(hours=1))

    scheduler.start()
    try:
        await wait_for(job.started)
    finally:
        await scheduler.shutdown()

    assert job.runs == 1


async def test_missed_run_runs_once_on_start(storage: Storage) -> None:
    interval = timedelta(hours=1)
    await storage.set_job_last_run("tick", at=datetime.now(UTC) - 2 * interval)
    job = CountingJob()
    scheduler = JobScheduler(storage)
    scheduler.add_job("tick", job, interval=interval)

    scheduler.start()
    try:
        await wait_for(job.started)
        await wait_until(lambda: _last_run_after(storage, "tick", hours_ago=1))
        # Give a second, coalesced run every chance to start.
        await asyncio.sleep(0.2)
        next_run = scheduler.next_run_time("tick")
    finally:
        await scheduler.shutdown()

    assert job.runs == 1
    assert next_run is not None
    assert next_run > datetime.now(UTC) + timedelta(minutes=59)


async def test_recent_run_delays_first_run(storage: Storage) -> None:
    last_run = datetime.now(UTC) - timedelta(minutes=10)
    await storage.set_job_last_run("tick", at=last_run)
    job = CountingJob()
    scheduler = JobScheduler(storage)
    scheduler.add_job("tick", job, interval=timedelta(hours=1))

    scheduler.start()
    try:
        await scheduler.wait_until_scheduled()
        next_run = scheduler.next_run_time("tick")
    finally:
        await scheduler.shutdown()

    assert job.runs == 0
    assert next_run is not None
    expected = last_run + timedelta(hours=1)
    assert abs(next_run - expected) < timedelta(seconds=5)


async def test_slow_job_never_overlaps(storage: Storage) -> None:
    job = CountingJob(duration=0.35)
    scheduler = JobScheduler(storage)
    scheduler.add_job("slow", job, interval=timedelta(seconds=0.1))

    scheduler.start()
    try:
        await wait_for(job.ran_twice)
    finally:
        await scheduler.shutdown()

    assert job.max_active == 1


async def test_skipped_overlapping_run_logs_at_debug(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    job = CountingJob(duration=0.35)
    scheduler = JobScheduler(storage)
    scheduler.add_job("slow", job, interval=timedelta(seconds=0.1))

    with caplog.at_level(logging.DEBUG, logger="apscheduler"):
        scheduler.start()
        try:
            await wait_for(job.ran_twice)
        finally:
            await scheduler.shutdown()

    skipped = [
        record
        for record in caplog.records
        if "maximum number of running instances" in record.getMessage()
    ]
    assert skipped
    assert all(record.levelno == logging.DEBUG for record in skipped)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_scheduler_survives_job_exception(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    job = CountingJob(fail_first=1)
    scheduler = JobScheduler(storage)
    scheduler.add_job("flaky", job, interval=timedelta(seconds=0.1))

    with caplog.at_level(logging.INFO, logger="bot.jobs.scheduler"):
        scheduler.start()
        try:
            await wait_for(job.ran_twice)
            await wait_until(lambda: _finished(job))
            still_running = scheduler.running
        finally:
            await scheduler.shutdown()

    assert still_running
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "flaky" in failures[0].getMessage()
    assert failures[0].exc_info is not None


async def test_job_run_logs_one_summary_line(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    job = CountingJob()
    scheduler = JobScheduler(storage)
    scheduler.add_job("tick", job, interval=timedelta(hours=1))

    with caplog.at_level(logging.INFO, logger="bot.jobs.scheduler"):
        scheduler.start()
        try:
            await wait_until(lambda: _last_run_after(storage, "tick", hours_ago=1))
        finally:
            await scheduler.shutdown()

    summaries = [
        record.getMessage() for record in caplog.records if "Job tick" in record.getMessage()
    ]
    assert len(summaries) == 1
    assert "counted one run" in summaries[0]
    assert "3 succeeded, 1 failed" in summaries[0]
    assert summaries[0].endswith(" ms")


@pytest.mark.parametrize(("idle", "level"), [(True, logging.DEBUG), (False, logging.INFO)])
async def test_idle_run_logs_at_debug(
    storage: Storage, caplog: pytest.LogCaptureFixture, idle: bool, level: int
) -> None:
    async def job() -> JobReport:
        return JobReport(
            action="looked around",
            succeeded=0,
            succeeded_label="items handled",
            failed_label="items failed",
            idle=idle,
        )

    scheduler = JobScheduler(storage)
    scheduler.add_job("quiet", job, interval=timedelta(hours=1))

    with caplog.at_level(logging.DEBUG, logger="bot.jobs.scheduler"):
        scheduler.start()
        try:
            await wait_until(lambda: _last_run_after(storage, "quiet", hours_ago=1))
        finally:
            await scheduler.shutdown()

    [summary] = [record for record in caplog.records if "looked around" in record.getMessage()]
    assert summary.levelno == level
    assert "looked around; 0 items handled, 0 items failed in " in summary.getMessage()


async def test_finished_run_records_last_run(storage: Storage) -> None:
    before = datetime.now(UTC)
    job = CountingJob()
    scheduler = JobScheduler(storage)
    scheduler.add_job("tick", job, interval=timedelta(hours=1))

    scheduler.start()
    try:
        await wait_until(lambda: _last_run_after(storage, "tick", hours_ago=1))
    finally:
        await scheduler.shutdown()

    last_run = await storage.get_job_last_run("tick")
    assert last_run is not None
    assert last_run >= before


async def test_shutdown_waits_for_running_job(storage: Storage) -> None:
    job = CountingJob(duration=0.2)
    scheduler = JobScheduler(storage, shutdown_timeout=5.0)
    scheduler.add_job("tick", job, interval=timedelta(hours=1))

    scheduler.start()
    await wait_for(job.started)
    await scheduler.shutdown()

    assert job.finished == 1
    assert await storage.get_job_last_run("tick") is not None
    assert not scheduler.running


async def test_shutdown_cancels_job_past_timeout(storage: Storage) -> None:
    job = CountingJob(duration=30.0)
    scheduler = JobScheduler(storage, shutdown_timeout=0.1)
    scheduler.add_job("stuck", job, interval=timedelta(hours=1))

    scheduler.start()
    await wait_for(job.started)
    await scheduler.shutdown()

    assert job.finished == 0
    assert job.active == 0
    assert await storage.get_job_last_run("stuck") is None
    assert not scheduler.running


async def test_running_follows_lifecycle(storage: Storage) -> None:
    scheduler = JobScheduler(storage)
    scheduler.add_job("tick", CountingJob(), interval=timedelta(hours=1))
    before_start = scheduler.running

    scheduler.start()
    after_start = scheduler.running
    await scheduler.shutdown()

    assert not before_start
    assert after_start
    assert not scheduler.running


async def test_add_job_rejects_bad_input(storage: Storage) -> None:
    scheduler = JobScheduler(storage)
    scheduler.add_job("tick", CountingJob(), interval=timedelta(hours=1))

    with pytest.raises(ValueError, match="already added"):
        scheduler.add_job("tick", CountingJob(), interval=timedelta(hours=1))
    with pytest.raises(ValueError, match="must be positive"):
        scheduler.add_job("other", CountingJob(), interval=timedelta(0))


async def _last_run_after(storage: Storage, name: str, *, hours_ago: float) -> bool:
    last_run = await storage.get_job_last_run(name)
    return last_run is not None and last_run > datetime.now(UTC) - timedelta(hours=hours_ago)


async def _finished(job: CountingJob) -> bool:
    return job.finished >= 1
