"""Figures that benchmarks return, and the printer that formats them.

Every figure is a measurement next to a baseline measured in the same run, because
absolute numbers on a shared machine mean little. The printed ratio is `value / baseline`.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "Figure",
    "format_figure",
    "format_header",
    "machine_description",
    "median",
    "percentile",
]

_REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured value, the baseline it is compared with, and the goal it must meet.

    `goal_max` is the largest acceptable ratio and `value_max` the largest acceptable value
    in `unit`; a figure may have either, both or neither. A figure without a goal is
    printed for context only.
    """

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    goal_max: float | None = None
    value_max: float | None = None
    note: str | None = None

    @property
    def ratio(self) -> float:
        """The ratio `value / baseline`, infinite when only the baseline is zero."""
        if self.baseline == 0:
            return 0.0 if self.value == 0 else math.inf
        return self.value / self.baseline

    @property
    def goal_met(self) -> bool | None:
        """Whether the ratio and the value are within their goals, or None without a goal."""
        if self.goal_max is None and self.value_max is None:
            return None
        ratio_met = self.goal_max is None or self.ratio <= self.goal_max
        value_met = self.value_max is None or self.value <= self.value_max
        return ratio_met and value_met


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of `samples`, `fraction` between 0 and 1."""
    if not samples:
        raise ValueError("percentile of an empty sample list is undefined")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    """Return the median of `samples`."""
    return statistics.median(samples)


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    if math.isinf(value):
        return "inf"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_figure(benchmark: str, figure: Figure, *, smoke: bool) -> str:
    """Format one figure as a single line: value, baseline, ratio and goal.

    In smoke mode the sizes are too small for the goal to mean anything, so the line shows
    the goal without judging it.
    """
    value = f"{_format_number(figure.value)} {figure.unit}".strip()
    baseline = f"{_format_number(figure.baseline)} {figure.unit}".strip()
    line = (
        f"{benchmark:<10} {figure.name:<34} {value:>14}   "
        f"vs {figure.baseline_name} {baseline}   ratio {figure.ratio:.3f}"
    )
    goals = []
    if figure.goal_max is not None:
        goals.append(f"ratio <= {figure.goal_max:g}")
    if figure.value_max is not None:
        goals.append(f"<= {_format_number(figure.value_max)} {figure.unit}".strip())
    if goals:
        verdict = "met" if figure.goal_met else "MISSED"
        if smoke:
            verdict = "not judged in smoke mode"
        line += f"   goal {' and '.join(goals)} ({verdict})"
    if figure.note:
        line += f"   [{figure.note}]"
    return line


def _git_commit() -> str:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=_REPOSITORY,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return completed.stdout.strip() or "unknown"


def machine_description() -> str:
    """Describe the machine: platform, usable CPUs and Python version."""
    usable_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cpus = f"{os.cpu_count()} CPUs"
    if usable_cpus is not None and usable_cpus != os.cpu_count():
        cpus += f" ({usable_cpus} usable)"
    processor = _cpu_model() or platform.processor() or platform.machine()
    return (
        f"{platform.platform()}, {processor}, {cpus}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def format_header(*, smoke: bool) -> str:
    """Format the header printed before the figures: date, machine, commit and mode."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "smoke (tiny sizes, goals not judged)" if smoke else "full"
    return "\n".join(
        [
            f"Gramlink benchmarks, {now}",
            f"machine: {machine_description()}",
            f"commit: {_git_commit()}   python: {sys.executable}   mode: {mode}",
        ]
    )
