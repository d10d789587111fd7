"""The command line: start-up errors in one line, and the demo process end to end."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from telegram.error import BadRequest, Conflict, NetworkError, TimedOut

import bot.__main__ as entry_point
from bot.__main__ import parse_args

REPO_ROOT = Path(__file__).resolve().parents[1]


def clean_env(**values: str) -> dict[str, str]:
    """An environment with no Gramlink settings, importing the code of this checkout."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        **values,
    }


def run_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # tmp_path as working directory, so no .env file is read.
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_missing_bot_token_prints_one_line(tmp_path: Path) -> None:
    result = run_bot(tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "gramlink: configuration error: TELEGRAM_BOT_TOKEN is required; "
        "set it in the environment or in .env"
    ]


def test_missing_instagram_app_prints_one_line(tmp_path: Path) -> None:
    result = run_bot(tmp_path, TELEGRAM_BOT_TOKEN="123456:TEST-token")

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "INSTAGRAM_CLIENT_ID is required" in result.stderr


def test_malformed_setting_hides_its_value(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "--sandbox", TELEGRAM_BOT_TOKEN="not-a-token-secret")

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "TELEGRAM_BOT_TOKEN is invalid" in result.stderr
    assert "not-a-token-secret" not in result.stderr


def test_unusable_database_prints_one_line(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory is expected")

    result = run_bot(
        tmp_path,
        "--sandbox",
        TELEGRAM_BOT_TOKEN="123456:TEST-token",
        DATABASE_URL="sqlite:///blocker/gramlink.db",
        HTTP_PORT="0",
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("gramlink: database error:")


def test_parse_args_flags() -> None:
    assert parse_args([]).sandbox is False
    assert parse_args(["--sandbox"]).sandbox is True
    assert parse_args(["--demo"]).demo is True


def run_failing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception
) -> tuple[int, list[str]]:
    """Run main() with a start-up that raises `error`; return the status and stderr lines."""

    async def failing_run(*, demo: bool, sandbox: bool) -> None:
        raise error

    monkeypatch.setattr(entry_point, "_run", failing_run)
    status = entry_point.main([])
    return status, capsys.readouterr().err.splitlines()


def test_bot_api_rejection_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = BadRequest("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")

    status, lines = run_failing(monkeypatch, capsys, error)

    assert status == 2
    assert len(lines) == 1
    assert '"Bad webhook: an https url must be provided for webhook"' in lines[0]
    assert "check PUBLIC_URL" in lines[0]
    assert "cannot reach" not in lines[0]


def test_bot_api_conflict_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = Conflict("Conflict: terminated by other getUpdates request")

    status, lines = run_failing(monkeypatch, capsys, error)

    assert status == 2
    assert len(lines) == 1
    assert "TELEGRAM_BOT_TOKEN" in lines[0]


@pytest.mark.parametrize(
    "error", [NetworkError("httpx.ConnectError: All connection attempts failed"), TimedOut()]
)
def test_unreachable_bot_api_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception
) -> None:
    status, lines = run_failing(monkeypatch, capsys, error)

    assert status == 1
    assert len(lines) == 1
    assert "cannot reach the Bot API" in lines[0]


@pytest.mark.e2e
async def test_demo_ignores_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "TELEGRAM_WEBHOOK_SECRET=production-secret\n"
        "PUBLIC_URL=https://gramlink.example.org\n"
        "DATABASE_URL=sqlite:///production/gramlink.db\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--demo",
        cwd=tmp_path,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        announcement = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        process.send_signal(signal.SIGTERM)
        return_code = await asyncio.wait_for(process.wait(), timeout=15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert return_code == 0, log
    assert announcement.startswith(b"Gramlink demo: open http://127.0.0.1:")
    assert "(public URL http://127.0.0.1:" in log
    assert "gramlink.example.org" not in log
    assert "webhook" not in log.lower()
    assert (tmp_path / "data" / "demo.db").exists()
    assert not (tmp_path / "production").exists()


def test_demo_help_mentions_env_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "The .env file is not read" in help_text
    assert "sqlite:///data/demo.db" in help_text


@pytest.mark.e2e
async def test_demo_serves_and_stops_on_sigterm(tmp_path: Path, unused_tcp_port: int) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--demo",
        cwd=tmp_path,
        env=clean_env(
            HTTP_PORT=str(unused_tcp_port),
            DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        announcement = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        assert announcement.startswith(b"Gramlink demo: open http://127.0.0.1:")

        health = await wait_for_health(f"http://127.0.0.1:{unused_tcp_port}/healthz")
        assert health == {"status": "ok", "database": "ok", "scheduler": "ok"}

        process.send_signal(signal.SIGTERM)
        return_code = await asyncio.wait_for(process.wait(), timeout=15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert return_code == 0, log
    assert "Traceback" not in log
    assert "Stopped" in log


async def wait_for_health(url: str) -> object:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                response = await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code == 200:
                return response.json()
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered 200")
