"""A job scheduler on the bot's event loop whose timing survives restarts.

APScheduler 3 (`AsyncIOScheduler`) fires the jobs. Each job's last finish time is stored in
the database. After a restart, a job first runs at `last run + interval`, or at once if that
time has passed, so a run missed while the process was down happens once, not in a burst.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock, utc_now

if TYPE_CHECKING:
    from storage import Storage

__all__ = ["JobFunction", "JobReport", "JobScheduler"]

logger = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT = 5.0

# APScheduler's logger, which logs at WARNING each time a run is skipped because the previous
# run of that job is still going.
_APSCHEDULER_LOGGER = "apscheduler.scheduler"
# Start of that message in APScheduler 3.11 (apscheduler/schedulers/base.py).
_SKIPPED_RUN_MESSAGE = 'Execution of job "%s" skipped: maximum number of running instances'


class _SkippedRunFilter(logging.Filter):
    """Logging filter that lowers APScheduler's skipped-run warning to DEBUG.

    Jobs run one instance at a time and coalesce missed runs on purpose, so a slow run that
    overlaps its next start time is expected and not worth a warning.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Lower the level of a skipped-run record, and keep every record."""
        if isinstance(record.msg, str) and record.msg.startswith(_SKIPPED_RUN_MESSAGE):
            record.levelno = logging.DEBUG
            record.levelname = logging.getLevelName(logging.DEBUG)
        return True


def _quiet_skipped_runs() -> None:
    apscheduler_logger = logging.getLogger(_APSCHEDULER_LOGGER)
    if not any(isinstance(existing, _SkippedRunFilter) for existing in apscheduler_logger.filters):
        apscheduler_logger.addFilter(_SkippedRunFilter())


@dataclass(frozen=True, slots=True)
class JobReport:
    """Summary of one job run for its log line: a short description and item counts.

    The labels name what the counts count, for example "posts delivered". An `idle` run,
    one that found nothing to do, is logged at DEBUG instead of INFO.
    """

    action: str
    succeeded: int = 0
    failed: int = 0
    succeeded_label: str = "succeeded"
    failed_label: str = "failed"
    idle: bool = False


JobFunction = Callable[[], Awaitable[JobReport]]


@dataclass(frozen=True, slots=True)
class _Job:
    name: str
    func: JobFunction
    interval: timedelta


class JobScheduler:
    """Runs named async jobs at fixed intervals, one instance of each at a time."""

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock = utc_now,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._shutdown_timeout = shutdown_timeout
        self._jobs: dict[str, _Job] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._scheduling: asyncio.Task[None] | None = None
        self._active_runs: set[asyncio.Task[object]] = set()
        self._stopping = False

    @property
    def running(self) -> bool:
        """Whether the scheduler is started and not shutting down."""
        return self._scheduler is not None and self._scheduler.running and not self._stopping

    @property
    def job_names(self) -> tuple[str, ...]:
        """Names of the added jobs, in the order they were added."""
        return tuple(self._jobs)

    def interval(self, name: str) -> timedelta:
        """Return the interval of the job called `name`."""
        return self._jobs[name].interval

    def add_job(self, name: str, func: JobFunction, *, interval: timedelta) -> None:
        """Add a job before `start()`. `name` is also the key of its last-run time."""
        if self._scheduler is not None:
            raise RuntimeError(f"cannot add job {name!r}: the scheduler is already started")
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} is already added")
        if interval <= timedelta(0):
            raise ValueError(f"the interval of job {name!r} must be positive, got {interval}")
        self._jobs[name] = _Job(name=name, func=func, interval=interval)

    def next_run_time(self, name: str) -> datetime | None:
        """Return when the job runs next, or None while it is not scheduled."""
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(name)
        if job is None:
            return None
        next_run: datetime | None = job.next_run_time
        return next_run

    def start(self) -> None:
        """Start the scheduler on the running event loop.

        Jobs are added paused. A background task reads their last-run times from the
        database and then sets each first run.
        """
        if self._scheduler is not None:
            raise RuntimeError("the scheduler is already started")

        _quiet_skipped_runs()
        scheduler = AsyncIOScheduler(timezone=UTC)
        for job in self._jobs.values():
            scheduler.add_job(
                self._run_job,
                trigger=IntervalTrigger(seconds=job.interval.total_seconds(), timezone=UTC),
                args=(job.name,),
                id=job.name,
                name=job.name,
                # One instance at a time; runs missed while busy or late collapse into one
                # run, however late it is.
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=None,
            )
        scheduler.start()
        self._scheduler = scheduler
        self._scheduling = asyncio.create_task(self._schedule_first_runs(), name="schedule-jobs")
        logger.info("Scheduler started with jobs: %s", ", ".join(self._jobs) or "none")

    async def wait_until_scheduled(self) -> None:
        """Wait until every job has its first run time set after `start()`."""
        if self._scheduling is not None:
            await asyncio.shield(self._scheduling)

    async def shutdown(self) -> None:
        """Stop starting jobs, let running ones finish for a few seconds, then cancel them."""
        scheduler = self._scheduler
        if scheduler is None or self._stopping:
            return
        self._stopping = True
        scheduler.pause()

        if self._scheduling is not None and not self._scheduling.done():
            self._scheduling.cancel()
            await asyncio.gather(self._scheduling, return_exceptions=True)

        active = set(self._active_runs)
        if active:
            _, still_running = await asyncio.wait(active, timeout=self._shutdown_timeout)
            if still_running:
                logger.warning(
                    "%d job run(s) still running after %.0f s; cancelling them",
                    len(still_running),
                    self._shutdown_timeout,
                )
                for task in still_running:
                    task.cancel()
                await asyncio.wait(still_running, timeout=self._shutdown_timeout)

        scheduler.shutdown(wait=False)
        # AsyncIOScheduler stops in a callback on the event loop, so let that callback run.
        await asyncio.sleep(0)
        logger.info("Scheduler stopped")

    async def _schedule_first_runs(self) -> None:
        for job in self._jobs.values():
            first_run = await self._first_run_time(job)
            if self._scheduler is None or self._stopping:
                return
            self._scheduler.modify_job(job.name, next_run_time=first_run)
            logger.debug("Job %s runs first at %s", job.name, first_run.isoformat())

    async def _first_run_time(self, job: _Job) -> datetime:
        try:
            last_run = await self._storage.get_job_last_run(job.name)
        except Exception:
            # Running too early is harmless, but never running because of a read error is not.
            logger.exception("Reading the last run of job %s failed; running it now", job.name)
            last_run = None

        # The delay is measured with the injected clock, but APScheduler itself uses real time.
        delay = timedelta(0)
        if last_run is not None:
            delay = max(last_run + job.interval - self._clock(), timedelta(0))
        return datetime.now(UTC) + delay

    async def _run_job(self, name: str) -> None:
        job = self._jobs[name]
        task = asyncio.current_task()
        if task is not None:
            self._active_runs.add(task)
        started = time.monotonic()
        try:
            try:
                report = await job.func()
            except Exception:
                # A failed run is logged and the job stays scheduled.
                logger.exception("Job %s failed after %d ms", name, _elapsed_ms(started))
            else:
                logger.log(
                    logging.DEBUG if report.idle else logging.INFO,
                    "Job %s: %s; %d %s, %d %s in %d ms",
                    name,
                    report.action,
                    report.succeeded,
                    report.succeeded_label,
                    report.failed,
                    report.failed_label,
                    _elapsed_ms(started),
                )
            # A cancelled run is not recorded, so the next start runs that job promptly.
            await self._record_last_run(name)
        finally:
            if task is not None:
                self._active_runs.discard(task)

    async def _record_last_run(self, name: str) -> None:
        try:
            await self._storage.set_job_last_run(name, at=self._clock())
        except Exception:
            logger.exception("Recording the last run of job %s failed", name)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
