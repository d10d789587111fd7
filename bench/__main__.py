"""Command line: `python -m bench [--smoke] [--only NAME ...] [--list]`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import time
import traceback

from bench import BENCHMARKS
from bench.report import format_figure, format_header


def _parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the Gramlink benchmarks against loopback fakes and print each "
        "figure with its ratio to a baseline measured in the same run.",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run every benchmark at a tiny size to check that it still works (under a minute)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help="run only this benchmark; repeat to run several (names: %(choices)s)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the benchmarks with what they measure, then exit"
    )
    return parser.parse_args(argv)


def _run_benchmark(name: str, *, smoke: bool) -> bool:
    """Run one benchmark in a fresh event loop, print its figures and return whether it ran."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.{BENCHMARKS[name].module}")
        figures = asyncio.run(module.run(smoke=smoke))
    except Exception:  # one failing benchmark must not hide the others
        print(f"{name:<10} FAILED after {time.perf_counter() - started:.1f} s", flush=True)
        traceback.print_exc()
        return False

    for figure in figures:
        print(format_figure(name, figure, smoke=smoke), flush=True)
    print(f"{name:<10} done in {time.perf_counter() - started:.1f} s", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks and return exit status 1 when any of them failed to run."""
    arguments = _parse_arguments(sys.argv[1:] if argv is None else argv)
    if arguments.list:
        for name, benchmark in BENCHMARKS.items():
            print(f"{name:<10} {benchmark.description}")
        return 0

    # The bot's own INFO lines would interleave with the figures; warnings and errors stay.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    print(format_header(smoke=arguments.smoke), flush=True)
    names = arguments.only or list(BENCHMARKS)
    failures = [name for name in names if not _run_benchmark(name, smoke=arguments.smoke)]
    if failures:
        print(f"failed: {', '.join(failures)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
