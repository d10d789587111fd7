"""Web routes with real services, the sandbox and an in-memory database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.instagram import InstagramClient, build_signed_request
from bot.services import Services
from bot.services.accounts import AccountService
from bot.services.deletion import DeletionService
from bot.web import SECRET_HEADER, WebContext, WebhookTarget, create_web_app
from bot.web.meta import DELETION_TASKS
from storage import AccountStatus, Storage

if TYPE_CHECKING:
    from tests.conftest import SandboxServer

DEMO_ID = "17841400000000001"
PERSONAL_ID = "4512345678"
LOGIN_SCOPES = ("instagram_business_basic",)
USER_ID = 2001
BOT_USERNAME = "gramlink_test_bot"
WEBHOOK_SECRET = "webhook-secret_123"

Client = TestClient[web.Request, web.Application]


@dataclass
class RecordingNotifier:
    """Stands in for Notifier: records what would be sent to Telegram."""

    sent: list[tuple[int, str]] = field(default_factory=list)

    async def send_text(
        self, chat_id: int, text: str, *, url_button: tuple[str, str] | None = None
    ) -> bool:
        self.sent.append((chat_id, text))
        return True


@dataclass
class MovableClock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class WebhookRecorder:
    """A webhook target that keeps the updates it is given."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    accepting: bool = True

    async def deliver(self, data: dict[str, Any]) -> bool:
        if not self.accepting:
            return False
        self.updates.append(data)
        return True


@dataclass
class Harness:
    client: Client
    storage: Storage
    services: Services
    notifier: RecordingNotifier
    clock: MovableClock
    sandbox: SandboxServer
    scheduler: dict[str, bool]
    webhook: WebhookRecorder

    async def connect_link_state(self, telegram_user_id: int = USER_ID) -> str:
        url = await self.services.accounts.start_connect(telegram_user_id, telegram_user_id)
        return httpx.URL(url).params["state"]

    def code(self, account_id: str = DEMO_ID) -> str:
        return self.sandbox.state.issue_code(account_id, self.sandbox.redirect_uri, LOGIN_SCOPES)

    async def wait_for_deletions(self) -> None:
        await asyncio.gather(*self.client.app[DELETION_TASKS])


@pytest.fixture
async def harness(
    storage: Storage,
    sandbox_settings: Settings,
    sandbox_server: SandboxServer,
) -> AsyncIterator[Harness]:
    notifier = RecordingNotifier()
    clock = MovableClock()
    scheduler = {"running": True}
    webhook = WebhookRecorder()
    async with httpx.AsyncClient() as http_client:
        instagram = InstagramClient.from_settings(sandbox_settings, http_client=http_client)
        services = Services(
            settings=sandbox_settings,
            storage=storage,
            instagram=instagram,
            notifier=notifier,  # type: ignore[arg-type]
            accounts=AccountService(
                storage=storage,
                instagram=instagram,
                notifier=notifier,  # type: ignore[arg-type]
                settings=sandbox_settings,
                clock=clock,
            ),
            deletion=DeletionService(storage=storage, settings=sandbox_settings, clock=clock),
            feed=None,  # type: ignore[arg-type]
            delivery=None,  # type: ignore[arg-type]
            subscriptions=None,  # type: ignore[arg-type]
            refresh=None,  # type: ignore[arg-type]
        )
        context = WebContext(
            services=services,
            bot_username=BOT_USERNAME,
            scheduler_running=lambda: scheduler["running"],
            webhook=WebhookTarget(secret=WEBHOOK_SECRET, deliver=webhook.deliver),
        )
        async with TestClient(TestServer(create_web_app(context))) as client:
            yield Harness(
                client, storage, services, notifier, clock, sandbox_server, scheduler, webhook
            )


async def get_callback(harness: Harness, **params: str) -> tuple[int, str]:
    response = await harness.client.get("/oauth/callback", params=params)
    return response.status, await response.text()


# GET /oauth/callback


async def test_callback_connects_account(harness: Harness) -> None:
    state = await harness.connect_link_state()

    response = await harness.client.get(
        "/oauth/callback", params={"code": harness.code() + "#_", "state": state}
    )
    text = await response.text()

    assert response.status == 200
    assert "Connected as @sandbox.demo" in text
    assert f'href="https://t.me/{BOT_USERNAME}"' in text
    assert response.headers["Referrer-Policy"] == "no-referrer"
    account = await harness.storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.status is AccountStatus.ACTIVE
    assert account.access_token is not None
    assert account.access_token not in text
    assert "Connected as <b>@sandbox.demo</b>" in harness.notifier.sent[0][1]


async def test_callback_denied(harness: Harness) -> None:
    state = await harness.connect_link_state()

    status, text = await get_callback(
        harness, error="access_denied", error_reason="user_denied", state=state
    )
    replay_status, replay_text = await get_callback(harness, code=harness.code(), state=state)

    assert status == 400
    assert "You declined" in text
    assert replay_status == 400
    assert "already used" in replay_text
    assert await harness.storage.count_accounts() == 0


async def test_callback_missing_state(harness: Harness) -> None:
    status, text = await get_callback(harness, code=harness.code())

    assert status == 400
    assert "missing the state" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_unknown_state(harness: Harness) -> None:
    status, text = await get_callback(
        harness, code=harness.code(), state="forged-state-value-0000000000000"
    )

    assert status == 400
    assert "not recognised" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_expired_state(harness: Harness) -> None:
    state = await harness.connect_link_state()
    harness.clock.now += timedelta(minutes=11)

    status, text = await get_callback(harness, code=harness.code(), state=state)

    assert status == 400
    assert "expired" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_reused_state(harness: Harness) -> None:
    state = await harness.connect_link_state()
    first_status, _ = await get_callback(harness, code=harness.code(), state=state)
    await harness.services.accounts.disconnect(USER_ID)

    status, text = await get_callback(harness, code=harness.code(), state=state)

    assert first_status == 200
    assert status == 400
    assert "already used" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_missing_code(harness: Harness) -> None:
    state = await harness.connect_link_state()

    status, text = await get_callback(harness, state=state)

    assert status == 400
    assert "did not send an authorization code" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_rejected_code(harness: Harness) -> None:
    state = await harness.connect_link_state()

    status, text = await get_callback(harness, code="AQ-made-up-code", state=state)

    assert status == 400
    assert "rejected the authorization code" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_instagram_down(harness: Harness) -> None:
    state = await harness.connect_link_state()
    code = harness.code()
    harness.sandbox.state.fail(1)

    status, text = await get_callback(harness, code=code, state=state)

    assert status == 502
    assert "not answering" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_personal_account_explained(harness: Harness) -> None:
    state = await harness.connect_link_state()

    status, text = await get_callback(harness, code=harness.code(PERSONAL_ID), state=state)

    assert status == 200
    assert "@sandbox.personal is a personal account" in text
    assert await harness.storage.count_accounts() == 0


async def test_callback_page_escapes_html(harness: Harness) -> None:
    status, text = await get_callback(harness, code="<script>", state="<b>x</b>")

    assert status == 400
    assert "<script>" not in text
    assert "<b>x</b>" not in text


async def test_access_log_leaves_out_query(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    state = await harness.connect_link_state()
    code = harness.code()

    with caplog.at_level(logging.INFO, logger="bot.web.access"):
        await get_callback(harness, code=code, state=state)

    lines = [record.getMessage() for record in caplog.records if record.name == "bot.web.access"]
    assert lines == [lines[0]]
    assert lines[0].startswith("GET /oauth/callback 200 ")
    assert code not in caplog.text
    assert state not in caplog.text


async def test_long_query_gets_414_without_echo(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    code = "AQB-secret-code-" + "x" * (9 * 1024)

    response = await harness.client.get(f"/oauth/callback?code={code}&state=abc")
    text = await response.text()

    assert response.status == 414
    assert "Address too long" in text
    assert "AQB-secret-code" not in text
    assert "AQB-secret-code" not in caplog.text


async def test_long_header_gets_431_without_echo(harness: Harness) -> None:
    response = await harness.client.get(
        "/healthz", headers={"X-Filler": "secret-value-" + "y" * (9 * 1024)}
    )
    text = await response.text()

    assert response.status == 431
    assert "secret-value" not in text


async def test_parser_rejection_logs_no_input(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Beyond aiohttp's own line limit its parser rejects the request before any middleware runs.
    code = "AQB-secret-code-" + "x" * (70 * 1024)

    with caplog.at_level(logging.DEBUG):
        response = await harness.client.get(f"/oauth/callback?code={code}&state=abc")

    assert response.status == 400
    assert "AQB-secret-code" not in caplog.text
    assert "Rejected a malformed HTTP request" in caplog.text


# Meta callbacks


async def connect(storage: Storage, telegram_user_id: int, instagram_user_id: str) -> None:
    now = datetime.now(UTC)
    await storage.save_account(
        telegram_user_id=telegram_user_id,
        instagram_user_id=instagram_user_id,
        username=f"user{telegram_user_id}",
        account_type="BUSINESS",
        access_token=f"IGAA-fake-token-{telegram_user_id}",
        token_issued_at=now,
        token_expires_at=now + timedelta(days=60),
        now=now,
    )


def signed(
    harness: Harness, user_id: str, secret: str | None = None, issued_at: int | None = None
) -> str:
    """Sign a callback payload for the user, issued now by the harness clock by default."""
    app_secret = secret or harness.sandbox.state.client_secret
    if issued_at is None:
        issued_at = int(harness.clock.now.timestamp())
    return build_signed_request({"user_id": user_id, "issued_at": issued_at}, app_secret)


async def test_deauthorize_disconnects_account(harness: Harness) -> None:
    await connect(harness.storage, USER_ID, DEMO_ID)

    response = await harness.client.post(
        "/instagram/deauthorize", data={"signed_request": signed(harness, DEMO_ID)}
    )

    assert response.status == 200
    account = await harness.storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.status is AccountStatus.DISCONNECTED
    assert account.access_token is None


@pytest.mark.parametrize("path", ["/instagram/deauthorize", "/instagram/data-deletion"])
async def test_meta_callback_rejects_bad_signature(harness: Harness, path: str) -> None:
    await connect(harness.storage, USER_ID, DEMO_ID)

    response = await harness.client.post(
        path, data={"signed_request": signed(harness, DEMO_ID, secret="wrong-secret")}
    )
    body = await response.json()

    assert response.status == 400
    assert "signature" in body["error"]
    account = await harness.storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.status is AccountStatus.ACTIVE
    assert await harness.storage.pending_deletion_requests() == []


@pytest.mark.parametrize(
    "form", [{}, {"signed_request": ""}, {"signed_request": "no-dot-here"}, {"other": "x"}]
)
async def test_meta_callback_rejects_malformed_form(
    harness: Harness, form: dict[str, str]
) -> None:
    response = await harness.client.post("/instagram/data-deletion", data=form)
    body = await response.json()

    assert response.status == 400
    assert body["error"]
    assert await harness.storage.pending_deletion_requests() == []


async def test_data_deletion_returns_code_and_deletes(harness: Harness) -> None:
    await connect(harness.storage, USER_ID, DEMO_ID)

    response = await harness.client.post(
        "/instagram/data-deletion", data={"signed_request": signed(harness, DEMO_ID)}
    )
    body = await response.json()
    await harness.wait_for_deletions()

    assert response.status == 200
    code = body["confirmation_code"]
    assert body["url"] == f"{harness.sandbox.base_url}/deletion/{code}"
    assert await harness.storage.accounts_for_instagram_user(DEMO_ID) == []
    page = await harness.client.get(f"/deletion/{code}")
    assert page.status == 200
    assert "Data deleted" in await page.text()
    assert " UTC" in await page.text()


@pytest.mark.parametrize("path", ["/instagram/deauthorize", "/instagram/data-deletion"])
@pytest.mark.parametrize("age", [timedelta(days=8), timedelta(minutes=-10)])
async def test_meta_callback_rejects_stale_request(
    harness: Harness, path: str, age: timedelta
) -> None:
    await connect(harness.storage, USER_ID, DEMO_ID)
    issued_at = int((harness.clock.now - age).timestamp())

    response = await harness.client.post(
        path, data={"signed_request": signed(harness, DEMO_ID, issued_at=issued_at)}
    )
    body = await response.json()

    assert response.status == 400
    assert "issued" in body["error"]
    account = await harness.storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.status is AccountStatus.ACTIVE
    assert await harness.storage.pending_deletion_requests() == []


async def test_data_deletion_rejects_issued_at_one(harness: Harness) -> None:
    response = await harness.client.post(
        "/instagram/data-deletion", data={"signed_request": signed(harness, DEMO_ID, issued_at=1)}
    )

    assert response.status == 400
    assert await harness.storage.pending_deletion_requests() == []


async def test_data_deletion_replay_returns_same_code(harness: Harness) -> None:
    await connect(harness.storage, USER_ID, DEMO_ID)
    form = {"signed_request": signed(harness, DEMO_ID)}

    first = await harness.client.post("/instagram/data-deletion", data=form)
    first_body = await first.json()
    await harness.wait_for_deletions()
    replay = await harness.client.post("/instagram/data-deletion", data=form)
    replay_body = await replay.json()

    assert first.status == 200
    assert replay.status == 200
    assert replay_body == first_body
    assert harness.client.app[DELETION_TASKS] == set()
    request = await harness.storage.get_deletion_request(first_body["confirmation_code"])
    assert request is not None
    assert request.completed_at is not None


async def test_data_deletion_for_unknown_user(harness: Harness) -> None:
    response = await harness.client.post(
        "/instagram/data-deletion", data={"signed_request": signed(harness, "31337")}
    )
    body = await response.json()
    await harness.wait_for_deletions()

    assert response.status == 200
    assert len(body["confirmation_code"]) == 32
    request = await harness.storage.get_deletion_request(body["confirmation_code"])
    assert request is not None
    assert request.completed_at is not None


async def test_deletion_page_shows_pending(harness: Harness) -> None:
    request = await harness.services.deletion.request_deletion(DEMO_ID)

    response = await harness.client.get(f"/deletion/{request.confirmation_code}")

    assert response.status == 200
    assert "Deletion in progress" in await response.text()


@pytest.mark.parametrize("code", ["0123456789abcdef0123456789abcdef", "short", "x" * 200])
async def test_deletion_page_unknown_code(harness: Harness, code: str) -> None:
    response = await harness.client.get(f"/deletion/{code}")

    assert response.status == 404


async def test_body_over_64_kib_is_rejected(harness: Harness) -> None:
    response = await harness.client.post(
        "/instagram/data-deletion", data={"signed_request": "a" * (65 * 1024)}
    )

    assert response.status == 413
    assert await harness.storage.pending_deletion_requests() == []


# GET /healthz


async def test_healthz_ok(harness: Harness) -> None:
    response = await harness.client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "scheduler": "ok"}


async def test_healthz_scheduler_stopped(harness: Harness) -> None:
    harness.scheduler["running"] = False

    response = await harness.client.get("/healthz")
    body = await response.json()

    assert response.status == 503
    assert body["scheduler"] == "stopped"
    assert body["database"] == "ok"


async def test_healthz_database_down(harness: Harness) -> None:
    await harness.storage.close()

    response = await harness.client.get("/healthz")
    body = await response.json()

    assert response.status == 503
    assert body["database"] == "error"


# POST /telegram/webhook

UPDATE = {
    "update_id": 500,
    "message": {
        "message_id": 1,
        "date": 1736510400,
        "chat": {"id": USER_ID, "type": "private"},
        "from": {"id": USER_ID, "is_bot": False, "first_name": "Ana"},
        "text": "/start",
    },
}


async def test_webhook_accepts_right_secret(harness: Harness) -> None:
    response = await harness.client.post(
        "/telegram/webhook", json=UPDATE, headers={SECRET_HEADER: WEBHOOK_SECRET}
    )

    assert response.status == 200
    assert harness.webhook.updates == [UPDATE]


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}])
async def test_webhook_rejects_wrong_secret(harness: Harness, headers: dict[str, str]) -> None:
    response = await harness.client.post("/telegram/webhook", json=UPDATE, headers=headers)

    assert response.status == 403
    assert harness.webhook.updates == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"message": {}}', b"\xff\xfe"])
async def test_webhook_rejects_invalid_body(harness: Harness, body: bytes) -> None:
    response = await harness.client.post(
        "/telegram/webhook", data=body, headers={SECRET_HEADER: WEBHOOK_SECRET}
    )

    assert response.status == 400
    assert harness.webhook.updates == []


async def test_webhook_refuses_while_stopping(harness: Harness) -> None:
    harness.webhook.accepting = False

    response = await harness.client.post(
        "/telegram/webhook", json=UPDATE, headers={SECRET_HEADER: WEBHOOK_SECRET}
    )

    assert response.status == 503


async def test_webhook_route_absent_under_polling(
    harness: Harness, make_settings: Callable[..., Settings]
) -> None:
    context = WebContext(
        services=harness.services,
        bot_username=BOT_USERNAME,
        scheduler_running=lambda: True,
    )
    async with TestClient(TestServer(create_web_app(context))) as client:
        response = await client.post(
            "/telegram/webhook", json=UPDATE, headers={SECRET_HEADER: WEBHOOK_SECRET}
        )

    assert response.status in (404, 405)


async def test_callback_page_links_to_replaced_bot_url(harness: Harness) -> None:
    playground_url = "http://127.0.0.1:8081/"
    context = WebContext(
        services=harness.services,
        bot_username=BOT_USERNAME,
        scheduler_running=lambda: True,
        bot_link_url=playground_url,
    )
    state = await harness.connect_link_state()

    async with TestClient(TestServer(create_web_app(context))) as client:
        response = await client.get(
            "/oauth/callback", params={"code": harness.code(), "state": state}
        )
        text = await response.text()

    assert response.status == 200
    assert f'href="{playground_url}"' in text
    assert "t.me" not in text
