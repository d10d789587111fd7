"""Tests of the token refresh sweep against real storage and a fake Graph API."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.instagram import InstagramClient
from bot.services.refresh import (
    BACKOFF_MAX,
    RATE_LIMIT_DEFAULT_PAUSE,
    RefreshService,
    backoff_delay,
)
from storage import Account, AccountStatus, Storage, open_storage

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SIXTY_DAYS = 60 * 24 * 3600
BOT_USERNAME = "GramlinkTestBot"


class FakeClock:
    """A clock that moves only when a test advances it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class SentMessage:
    chat_id: int
    text: str
    url_button: tuple[str, str] | None


@dataclass
class RecordingNotifier:
    """Stands in for Notifier and records what would be sent."""

    sent: list[SentMessage] = field(default_factory=list)

    async def send_text(
        self, chat_id: int, text: str, *, url_button: tuple[str, str] | None = None
    ) -> bool:
        self.sent.append(SentMessage(chat_id, text, url_button))
        return True


def graph_error(code: int, message: str, *, error_type: str = "OAuthException") -> dict:
    return {"error": {"message": message, "type": error_type, "code": code, "fbtrace_id": "AbC1"}}


INVALID_TOKEN = (
    400,
    graph_error(190, "Error validating access token: Session has expired."),
    {},
)
UNAVAILABLE = (
    500,
    graph_error(2, "An unexpected error has occurred. Please retry your request later."),
    {},
)


def rate_limited(minutes: int | None) -> tuple[int, dict, dict[str, str]]:
    """Return a code 4 error response. `minutes` fills `estimated_time_to_regain_access`."""
    headers: dict[str, str] = {}
    if minutes is not None:
        usage = {
            "17841400000000001": [
                {
                    "type": "instagram",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 30,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
    return 400, graph_error(4, "Application request limit reached"), headers


class FakeGraph:
    """Serves `GET /refresh_access_token` like the Graph API, with scripted errors per token.

    A token without a scripted response is refreshed into `<token>-r<n>`. It also counts how
    many requests are in flight at once.
    """

    def __init__(self) -> None:
        self.scripted: dict[str, list[tuple[int, dict, dict[str, str]]]] = {}
        self.requested: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold = False

    def script(self, token: str, *answers: tuple[int, dict, dict[str, str]]) -> None:
        self.scripted.setdefault(token, []).extend(answers)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/refresh_access_token"
        assert request.url.params["grant_type"] == "ig_refresh_token"
        token = request.url.params["access_token"]
        self.requested.append(token)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold:
                # Yield a few times so that every worker gets to send its request.
                for _ in range(5):
                    await asyncio.sleep(0)
            answers = self.scripted.get(token)
            if answers:
                status, body, headers = answers.pop(0)
                return httpx.Response(status, json=body, headers=headers)
            body = {
                "access_token": f"{token}-r{self.requested.count(token)}",
                "token_type": "bearer",
                "expires_in": SIXTY_DAYS,
            }
            return httpx.Response(200, json=body)
        finally:
            self.in_flight -= 1


class RecordingSleep:
    """Stands in for asyncio.sleep and records each requested delay."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@dataclass
class Harness:
    storage: Storage
    graph: FakeGraph
    notifier: RecordingNotifier
    clock: FakeClock
    sleep: RecordingSleep
    instagram: InstagramClient
    next_user: int = 1000

    def service(
        self,
        *,
        concurrency: int = 2,
        bot_username: Callable[[], str | None] | None = lambda: BOT_USERNAME,
        batch_size: int = 200,
    ) -> RefreshService:
        settings = Settings(
            _env_file=None,
            telegram_bot_token="123456:TEST",
            sandbox=True,
            refresh_before_days=10,
            refresh_concurrency=concurrency,
        )
        return RefreshService(
            storage=self.storage,
            instagram=self.instagram,
            notifier=self.notifier,
            settings=settings,
            clock=self.clock,
            sleep=self.sleep,
            rng=random.Random(7),
            bot_username=bot_username,
            batch_size=batch_size,
        )

    async def add_account(
        self, token: str, *, expires_in: timedelta, age: timedelta = timedelta(days=50)
    ) -> Account:
        self.next_user += 1
        now = self.clock()
        return await self.storage.save_account(
            telegram_user_id=self.next_user,
            instagram_user_id=f"178414000000{self.next_user}",
            username=f"user_{self.next_user}",
            account_type="BUSINESS",
            access_token=token,
            token_issued_at=now - age,
            token_expires_at=now + expires_in,
            now=now - age,
        )

    async def account(self, account_id: int) -> Account:
        account = await self.storage.get_account(account_id)
        assert account is not None
        return account


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    storage = await open_storage(
        "sqlite:///:memory:", encryption_key=Fernet.generate_key().decode()
    )
    graph = FakeGraph()
    http_client = httpx.AsyncClient(transport=httpx.MockTransport(graph.handle))
    instagram = InstagramClient(
        client_id="1234567890",
        client_secret="fake-app-secret",
        redirect_uri="http://127.0.0.1:8080/oauth/callback",
        graph_url="http://127.0.0.1:9",
        http_client=http_client,
        max_attempts=1,
    )
    try:
        yield Harness(
            storage=storage,
            graph=graph,
            notifier=RecordingNotifier(),
            clock=FakeClock(START),
            sleep=RecordingSleep(),
            instagram=instagram,
        )
    finally:
        await http_client.aclose()
        await storage.close()


async def test_sweep_refreshes_only_tokens_inside_window(harness: Harness) -> None:
    inside = await harness.add_account("IGAA-fake-inside", expires_in=timedelta(days=5))
    outside = await harness.add_account("IGAA-fake-outside", expires_in=timedelta(days=30))

    summary = await harness.service().sweep()

    assert harness.graph.requested == ["IGAA-fake-inside"]
    assert summary.due == 1
    assert summary.refreshed == 1
    assert summary.failed == 0
    refreshed = await harness.account(inside.id)
    assert refreshed.access_token == "IGAA-fake-inside-r1"
    assert refreshed.token_issued_at == START
    assert refreshed.token_expires_at == START + timedelta(seconds=SIXTY_DAYS)
    untouched = await harness.account(outside.id)
    assert untouched.access_token == "IGAA-fake-outside"
    assert untouched.token_expires_at == START + timedelta(days=30)


async def test_sweep_leaves_token_younger_than_a_day(harness: Harness) -> None:
    young = await harness.add_account(
        "IGAA-fake-young", expires_in=timedelta(days=5), age=timedelta(hours=23)
    )

    summary = await harness.service().sweep()

    assert harness.graph.requested == []
    assert summary.due == 0
    assert (await harness.account(young.id)).access_token == "IGAA-fake-young"


async def test_sweep_leaves_expired_token(harness: Harness) -> None:
    expired = await harness.add_account("IGAA-fake-expired", expires_in=timedelta(hours=-1))

    summary = await harness.service().sweep()

    assert harness.graph.requested == []
    assert summary.due == 0
    assert (await harness.account(expired.id)).access_token == "IGAA-fake-expired"


async def test_refreshed_token_not_due_again(harness: Harness) -> None:
    await harness.add_account("IGAA-fake-once", expires_in=timedelta(days=5))
    service = harness.service()

    await service.sweep()
    harness.clock.advance(timedelta(hours=1))
    second = await service.sweep()

    assert harness.graph.requested == ["IGAA-fake-once"]
    assert second.due == 0


async def test_invalid_token_sends_one_reconnect_message(harness: Harness) -> None:
    account = await harness.add_account("IGAA-fake-revoked", expires_in=timedelta(days=5))
    harness.graph.script("IGAA-fake-revoked", INVALID_TOKEN, INVALID_TOKEN)
    service = harness.service()

    first = await service.sweep()
    harness.clock.advance(timedelta(hours=1))
    second = await service.sweep()

    assert first.needs_reconnect == 1
    assert second.needs_reconnect == 0
    assert harness.graph.requested == ["IGAA-fake-revoked"]
    stored = await harness.account(account.id)
    assert stored.status is AccountStatus.NEEDS_RECONNECT
    assert stored.access_token is None
    assert len(harness.notifier.sent) == 1
    message = harness.notifier.sent[0]
    assert message.chat_id == account.telegram_user_id
    assert f"@{account.username}" in message.text
    assert message.url_button == ("Reconnect", f"https://t.me/{BOT_USERNAME}?start=connect")


async def test_reconnect_message_without_bot_username(harness: Harness) -> None:
    await harness.add_account("IGAA-fake-revoked", expires_in=timedelta(days=5))
    harness.graph.script("IGAA-fake-revoked", INVALID_TOKEN)

    await harness.service(bot_username=None).sweep()

    assert len(harness.notifier.sent) == 1
    assert harness.notifier.sent[0].url_button is None
    assert "/connect" in harness.notifier.sent[0].text


async def test_rate_limit_pauses_then_continues(harness: Harness) -> None:
    accounts = [
        await harness.add_account(f"IGAA-fake-{n}", expires_in=timedelta(days=2 + n))
        for n in range(4)
    ]
    harness.graph.script("IGAA-fake-1", rate_limited(minutes=2))

    summary = await harness.service(concurrency=1).sweep()

    assert harness.sleep.delays == [120.0]
    assert summary.rate_limit_pauses == 1
    assert summary.refreshed == 4
    assert summary.deferred == 0
    assert harness.graph.requested == [
        "IGAA-fake-0",
        "IGAA-fake-1",
        "IGAA-fake-1",
        "IGAA-fake-2",
        "IGAA-fake-3",
    ]
    stored_tokens = [(await harness.account(account.id)).access_token for account in accounts]
    assert stored_tokens == [
        "IGAA-fake-0-r1",
        "IGAA-fake-1-r2",
        "IGAA-fake-2-r1",
        "IGAA-fake-3-r1",
    ]


async def test_rate_limit_without_estimate_uses_default(harness: Harness) -> None:
    account = await harness.add_account("IGAA-fake-busy", expires_in=timedelta(days=5))
    harness.graph.script("IGAA-fake-busy", rate_limited(minutes=None))

    summary = await harness.service(concurrency=1).sweep()

    assert harness.sleep.delays == [RATE_LIMIT_DEFAULT_PAUSE]
    assert summary.refreshed == 1
    assert (await harness.account(account.id)).access_token == "IGAA-fake-busy-r2"


async def test_long_rate_limit_leaves_rest_for_next_sweep(harness: Harness) -> None:
    accounts = [
        await harness.add_account(f"IGAA-fake-{n}", expires_in=timedelta(days=2 + n))
        for n in range(4)
    ]
    harness.graph.script("IGAA-fake-1", rate_limited(minutes=60))
    service = harness.service(concurrency=1)

    first = await service.sweep()

    assert harness.sleep.delays == []
    assert first.refreshed == 1
    assert first.deferred == 3
    assert first.failed == 0
    left_over = await harness.account(accounts[1].id)
    assert left_over.access_token == "IGAA-fake-1"
    assert left_over.refresh_failures == 0

    harness.clock.advance(timedelta(hours=1))
    second = await service.sweep()

    assert second.refreshed == 3
    for account in accounts:
        assert (await harness.account(account.id)).access_token != account.access_token


async def test_repeated_rate_limits_end_sweep(harness: Harness) -> None:
    await harness.add_account("IGAA-fake-busy", expires_in=timedelta(days=5))
    harness.graph.script("IGAA-fake-busy", *[rate_limited(minutes=1)] * 10)

    summary = await harness.service(concurrency=1).sweep()

    assert harness.sleep.delays == [60.0, 60.0, 60.0]
    assert summary.rate_limit_pauses == 3
    assert summary.refreshed == 0
    assert summary.deferred == 1


async def test_transient_failure_keeps_old_token(harness: Harness) -> None:
    first = await harness.add_account("IGAA-fake-a", expires_in=timedelta(days=3))
    failing = await harness.add_account("IGAA-fake-b", expires_in=timedelta(days=4))
    last = await harness.add_account("IGAA-fake-c", expires_in=timedelta(days=5))
    harness.graph.script("IGAA-fake-b", UNAVAILABLE)

    summary = await harness.service(concurrency=1).sweep()

    assert summary.refreshed == 2
    assert summary.failed == 1
    stored = await harness.account(failing.id)
    assert stored.access_token == "IGAA-fake-b"
    assert stored.status is AccountStatus.ACTIVE
    assert stored.refresh_failures == 1
    assert stored.last_refresh_error is not None
    assert "InstagramUnavailableError" in stored.last_refresh_error
    assert "IGAA-fake-b" not in stored.last_refresh_error
    assert stored.next_refresh_at is not None
    assert START + timedelta(minutes=4) <= stored.next_refresh_at <= START + timedelta(minutes=6)
    assert (await harness.account(first.id)).access_token == "IGAA-fake-a-r1"
    assert (await harness.account(last.id)).access_token == "IGAA-fake-c-r1"


async def test_failed_account_waits_for_backoff(harness: Harness) -> None:
    account = await harness.add_account("IGAA-fake-flaky", expires_in=timedelta(days=5))
    harness.graph.script("IGAA-fake-flaky", UNAVAILABLE)
    service = harness.service()

    await service.sweep()
    harness.clock.advance(timedelta(minutes=3))
    early = await service.sweep()
    harness.clock.advance(timedelta(minutes=4))
    later = await service.sweep()

    assert early.due == 0
    assert later.refreshed == 1
    stored = await harness.account(account.id)
    assert stored.access_token == "IGAA-fake-flaky-r2"
    assert stored.refresh_failures == 0
    assert stored.next_refresh_at is None


async def test_backoff_grows_with_failures(harness: Harness) -> None:
    account = await harness.add_account("IGAA-fake-down", expires_in=timedelta(days=9))
    harness.graph.script("IGAA-fake-down", *[UNAVAILABLE] * 4)
    service = harness.service()
    delays: list[timedelta] = []

    for _ in range(4):
        await service.sweep()
        stored = await harness.account(account.id)
        assert stored.next_refresh_at is not None
        delays.append(stored.next_refresh_at - harness.clock())
        harness.clock.now = stored.next_refresh_at

    for failures, delay in enumerate(delays):
        nominal = timedelta(minutes=5) * 2**failures
        assert nominal * 0.8 <= delay <= nominal * 1.2
    assert (await harness.account(account.id)).refresh_failures == 4


def test_backoff_is_capped() -> None:
    rng = random.Random(3)

    delays = [backoff_delay(failures, rng=rng) for failures in (8, 20, 1000)]

    for delay in delays:
        assert BACKOFF_MAX * 0.8 <= delay <= BACKOFF_MAX * 1.2


async def test_backoff_never_passes_expiry(harness: Harness) -> None:
    account = await harness.add_account("IGAA-fake-late", expires_in=timedelta(minutes=4))
    harness.graph.script("IGAA-fake-late", UNAVAILABLE)

    await harness.service().sweep()

    stored = await harness.account(account.id)
    assert stored.next_refresh_at is not None
    assert stored.next_refresh_at <= START + timedelta(minutes=2)


async def test_expiry_warning_sent_once(harness: Harness) -> None:
    account = await harness.add_account("IGAA-fake-ending", expires_in=timedelta(days=2))
    harness.graph.script("IGAA-fake-ending", *[UNAVAILABLE] * 4)
    service = harness.service()
    messages_after_each_sweep: list[int] = []

    for _ in range(4):
        await service.sweep()
        messages_after_each_sweep.append(len(harness.notifier.sent))
        stored = await harness.account(account.id)
        assert stored.next_refresh_at is not None
        harness.clock.now = stored.next_refresh_at

    assert messages_after_each_sweep == [0, 1, 1, 1]
    message = harness.notifier.sent[0]
    assert message.chat_id == account.telegram_user_id
    assert "expires on" in message.text
    assert message.url_button == ("Reconnect", f"https://t.me/{BOT_USERNAME}?start=connect")
    stored = await harness.account(account.id)
    assert stored.expiry_warned_at is not None
    assert stored.access_token == "IGAA-fake-ending"


async def test_no_expiry_warning_far_from_expiry(harness: Harness) -> None:
    account = await harness.add_account("IGAA-fake-far", expires_in=timedelta(days=8))
    harness.graph.script("IGAA-fake-far", *[UNAVAILABLE] * 3)
    service = harness.service()

    for _ in range(3):
        await service.sweep()
        stored = await harness.account(account.id)
        assert stored.next_refresh_at is not None
        harness.clock.now = stored.next_refresh_at

    assert harness.notifier.sent == []


async def test_concurrency_stays_within_setting(harness: Harness) -> None:
    for n in range(30):
        await harness.add_account(f"IGAA-fake-{n}", expires_in=timedelta(days=5))
    harness.graph.hold = True

    summary = await harness.service(concurrency=4).sweep()

    assert summary.refreshed == 30
    assert harness.graph.max_in_flight <= 4
    assert harness.graph.max_in_flight > 1


async def test_sweep_pages_through_batches(harness: Harness) -> None:
    for n in range(23):
        await harness.add_account(f"IGAA-fake-{n}", expires_in=timedelta(days=5, minutes=n))

    summary = await harness.service(concurrency=3, batch_size=5).sweep()

    assert summary.due == 23
    assert summary.refreshed == 23
    assert sorted(harness.graph.requested) == sorted(f"IGAA-fake-{n}" for n in range(23))
