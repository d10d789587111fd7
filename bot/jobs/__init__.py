"""Periodic jobs (token refresh, data deletion, subscription polling, clean-up) and their
scheduler."""

from __future__ import annotations

from bot.jobs.scheduler import JobFunction, JobReport, JobScheduler
from bot.jobs.tasks import create_scheduler

__all__ = ["JobFunction", "JobReport", "JobScheduler", "create_scheduler"]
