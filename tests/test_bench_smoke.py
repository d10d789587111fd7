"""Run every benchmark at its smoke size, so the benchmarks keep working as the code changes.

Only the exit status and the printed lines are checked, never a timing: the figures of a
smoke run are too small to judge and the machine may be busy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import BENCHMARKS

REPOSITORY = Path(__file__).resolve().parent.parent
# The smoke run takes under a minute on two cores; the margin covers a busy CI machine.
SMOKE_TIMEOUT_SECONDS = 240

pytestmark = pytest.mark.timeout(SMOKE_TIMEOUT_SECONDS + 30)


@pytest.fixture(scope="module")
def smoke_run() -> subprocess.CompletedProcess[str]:
    """Run `python -m bench --smoke` once for every test in this module."""
    return subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )


def test_smoke_run_exits_zero(smoke_run: subprocess.CompletedProcess[str]) -> None:
    assert smoke_run.returncode == 0, smoke_run.stdout + smoke_run.stderr


def test_smoke_run_prints_header(smoke_run: subprocess.CompletedProcess[str]) -> None:
    lines = smoke_run.stdout.splitlines()
    assert lines, smoke_run.stderr
    assert lines[0].startswith("Gramlink benchmarks, ")
    assert lines[1].startswith("machine: ")


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_prints_ratio_lines(
    smoke_run: subprocess.CompletedProcess[str], name: str
) -> None:
    lines = [line for line in smoke_run.stdout.splitlines() if line.startswith(f"{name} ")]
    figure_lines = [line for line in lines if " ratio " in line]
    assert figure_lines, f"{name} printed no figure:\n{smoke_run.stdout}\n{smoke_run.stderr}"
    assert any(" done in " in line for line in lines), f"{name} did not finish"
