"""AccountService against the real sandbox and an in-memory database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.config import InstagramFlavor, Settings
from bot.instagram import InstagramClient
from bot.services.accounts import AccountService, ConnectOutcome, DisconnectCheck
from storage import AccountStatus, Storage

if TYPE_CHECKING:
    from tests.conftest import SandboxServer

DEMO_ID = "17841400000000001"
EMPTY_ID = "17841400000000003"
PERSONAL_ID = "4512345678"
LOGIN_SCOPES = ("instagram_business_basic",)
USER_ID = 1001
OTHER_USER_ID = 1002


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
    """A clock that tests move by hand."""

    now: datetime = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def instagram(sandbox_settings: Settings) -> AsyncIterator[InstagramClient]:
    async with httpx.AsyncClient() as http_client:
        yield InstagramClient.from_settings(sandbox_settings, http_client=http_client)


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def accounts(
    storage: Storage,
    instagram: InstagramClient,
    notifier: RecordingNotifier,
    sandbox_settings: Settings,
    clock: MovableClock,
) -> AccountService:
    return AccountService(
        storage=storage,
        instagram=instagram,
        notifier=notifier,  # type: ignore[arg-type]
        settings=sandbox_settings,
        clock=clock,
    )


def state_of(authorization_url: str) -> str:
    return parse_qs(urlsplit(authorization_url).query)["state"][0]


def sandbox_code(sandbox_server: SandboxServer, account_id: str = DEMO_ID) -> str:
    return sandbox_server.state.issue_code(account_id, sandbox_server.redirect_uri, LOGIN_SCOPES)


async def test_start_connect_returns_authorize_url_with_state(
    accounts: AccountService, sandbox_server: SandboxServer
) -> None:
    url = await accounts.start_connect(USER_ID, USER_ID)

    assert url.startswith(sandbox_server.urls["authorize_url"] + "?")
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [sandbox_server.redirect_uri]
    assert len(query["state"][0]) >= 32


async def test_start_connect_states_are_unique(accounts: AccountService) -> None:
    first = state_of(await accounts.start_connect(USER_ID, USER_ID))
    second = state_of(await accounts.start_connect(USER_ID, USER_ID))

    assert first != second


async def test_complete_connect_stores_account_and_notifies(
    accounts: AccountService,
    storage: Storage,
    notifier: RecordingNotifier,
    sandbox_server: SandboxServer,
    clock: MovableClock,
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, 555))

    result = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server) + "#_")

    assert result.outcome is ConnectOutcome.CONNECTED
    assert result.username == "sandbox.demo"
    account = await storage.get_account_for_user(USER_ID)
    assert account is not None
    assert account.instagram_user_id == DEMO_ID
    assert account.status is AccountStatus.ACTIVE
    assert account.access_token
    assert account.token_expires_at is not None
    assert account.token_expires_at > clock.now + timedelta(days=50)
    assert notifier.sent[0][0] == 555
    assert "Connected as <b>@sandbox.demo</b>" in notifier.sent[0][1]


async def test_complete_connect_denied_consumes_state(
    accounts: AccountService,
    storage: Storage,
    notifier: RecordingNotifier,
    sandbox_server: SandboxServer,
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))

    denied = await accounts.complete_connect(state=state, code=None, error="access_denied")
    replayed = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))

    assert denied.outcome is ConnectOutcome.DENIED
    assert replayed.outcome is ConnectOutcome.USED_STATE
    assert await storage.get_account_for_user(USER_ID) is None
    assert "declined" in notifier.sent[0][1]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, ConnectOutcome.MISSING_STATE),
        ("", ConnectOutcome.MISSING_STATE),
        ("never-issued-state-value-000000000", ConnectOutcome.UNKNOWN_STATE),
        ("bad state!", ConnectOutcome.UNKNOWN_STATE),
    ],
)
async def test_complete_connect_rejects_bad_state(
    accounts: AccountService,
    storage: Storage,
    sandbox_server: SandboxServer,
    state: str | None,
    expected: ConnectOutcome,
) -> None:
    result = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))

    assert result.outcome is expected
    assert await storage.count_accounts() == 0


async def test_complete_connect_rejects_expired_state(
    accounts: AccountService, storage: Storage, sandbox_server: SandboxServer, clock: MovableClock
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))
    clock.now += timedelta(minutes=10, seconds=1)

    result = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))

    assert result.outcome is ConnectOutcome.EXPIRED_STATE
    assert await storage.count_accounts() == 0


async def test_complete_connect_rejects_reused_state(
    accounts: AccountService, storage: Storage, sandbox_server: SandboxServer
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))
    first = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))
    await accounts.disconnect(USER_ID)

    second = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))

    assert first.outcome is ConnectOutcome.CONNECTED
    assert second.outcome is ConnectOutcome.USED_STATE
    assert await storage.count_accounts() == 0


async def test_complete_connect_without_code_keeps_state(
    accounts: AccountService, storage: Storage, sandbox_server: SandboxServer
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))

    missing = await accounts.complete_connect(state=state, code=None)
    retried = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))

    assert missing.outcome is ConnectOutcome.MISSING_CODE
    assert retried.outcome is ConnectOutcome.CONNECTED


async def test_complete_connect_rejected_code_consumes_state(
    accounts: AccountService, storage: Storage
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))

    result = await accounts.complete_connect(state=state, code="AQ-not-issued-by-sandbox")
    replayed = await accounts.complete_connect(state=state, code="AQ-not-issued-by-sandbox")

    assert result.outcome is ConnectOutcome.REJECTED_CODE
    assert replayed.outcome is ConnectOutcome.USED_STATE
    assert await storage.count_accounts() == 0


async def test_complete_connect_reports_instagram_down(
    accounts: AccountService, storage: Storage, sandbox_server: SandboxServer
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))
    code = sandbox_code(sandbox_server)
    sandbox_server.state.fail(1, html=True)

    result = await accounts.complete_connect(state=state, code=code)

    assert result.outcome is ConnectOutcome.INSTAGRAM_UNAVAILABLE
    assert await storage.count_accounts() == 0


async def test_complete_connect_explains_personal_account(
    accounts: AccountService,
    storage: Storage,
    notifier: RecordingNotifier,
    sandbox_server: SandboxServer,
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))

    result = await accounts.complete_connect(
        state=state, code=sandbox_code(sandbox_server, PERSONAL_ID)
    )

    assert result.outcome is ConnectOutcome.UNSUPPORTED_ACCOUNT
    assert result.username == "sandbox.personal"
    assert await storage.count_accounts() == 0
    assert "personal Instagram account" in notifier.sent[0][1]


async def test_personal_account_connects_on_basic_display(
    storage: Storage,
    instagram: InstagramClient,
    notifier: RecordingNotifier,
    sandbox_settings: Settings,
    sandbox_server: SandboxServer,
) -> None:
    settings = sandbox_settings.model_copy(update={"instagram_api": InstagramFlavor.BASIC_DISPLAY})
    basic_instagram = InstagramClient.from_settings(settings)
    service = AccountService(
        storage=storage,
        instagram=basic_instagram,
        notifier=notifier,  # type: ignore[arg-type]
        settings=settings,
    )
    state = state_of(await service.start_connect(USER_ID, USER_ID))
    code = sandbox_server.state.issue_code(
        PERSONAL_ID, sandbox_server.redirect_uri, ("user_profile", "user_media")
    )

    result = await service.complete_connect(state=state, code=code)
    await basic_instagram.aclose()

    assert result.outcome is ConnectOutcome.CONNECTED
    assert result.account_type == "PERSONAL"


async def test_same_instagram_account_from_two_users(
    accounts: AccountService, storage: Storage, sandbox_server: SandboxServer
) -> None:
    for telegram_user_id in (USER_ID, OTHER_USER_ID):
        state = state_of(await accounts.start_connect(telegram_user_id, telegram_user_id))
        result = await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))
        assert result.outcome is ConnectOutcome.CONNECTED

    connections = await storage.accounts_for_instagram_user(DEMO_ID)
    tokens = {account.access_token for account in connections}
    assert len(connections) == 2
    assert len(tokens) == 2

    await accounts.disconnect(USER_ID)
    assert await accounts.status(USER_ID) is None
    assert await accounts.status(OTHER_USER_ID) is not None


async def test_status_shows_connection_without_token(
    accounts: AccountService, sandbox_server: SandboxServer
) -> None:
    assert await accounts.status(USER_ID) is None
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))
    await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server))

    info = await accounts.status(USER_ID)

    assert info is not None
    assert info.username == "sandbox.demo"
    assert info.account_type == "BUSINESS"
    assert info.status is AccountStatus.ACTIVE
    assert not hasattr(info, "access_token")


async def test_disconnect_without_account_returns_false(accounts: AccountService) -> None:
    assert await accounts.disconnect(USER_ID) is False


async def connect(
    accounts: AccountService, sandbox_server: SandboxServer, user_id: int, account_id: str
) -> int:
    """Connect the sandbox account for the user and return the stored account id."""
    state = state_of(await accounts.start_connect(user_id, user_id))
    await accounts.complete_connect(state=state, code=sandbox_code(sandbox_server, account_id))
    info = await accounts.status(user_id)
    assert info is not None
    return info.account_id


async def test_check_disconnect_current_account(
    accounts: AccountService, sandbox_server: SandboxServer
) -> None:
    account_id = await connect(accounts, sandbox_server, USER_ID, DEMO_ID)

    assert await accounts.check_disconnect(USER_ID, account_id) is DisconnectCheck.CURRENT


async def test_check_disconnect_other_users_account(
    accounts: AccountService, sandbox_server: SandboxServer
) -> None:
    await connect(accounts, sandbox_server, USER_ID, DEMO_ID)
    other_account_id = await connect(accounts, sandbox_server, OTHER_USER_ID, DEMO_ID)

    check = await accounts.check_disconnect(USER_ID, other_account_id)

    assert check is DisconnectCheck.FOREIGN


async def test_check_disconnect_replaced_account(
    accounts: AccountService, sandbox_server: SandboxServer
) -> None:
    old_account_id = await connect(accounts, sandbox_server, USER_ID, DEMO_ID)
    new_account_id = await connect(accounts, sandbox_server, USER_ID, EMPTY_ID)

    check = await accounts.check_disconnect(USER_ID, old_account_id)

    assert new_account_id != old_account_id
    assert check is DisconnectCheck.EXPIRED


async def test_disconnect_keeps_replaced_account(
    accounts: AccountService, sandbox_server: SandboxServer
) -> None:
    old_account_id = await connect(accounts, sandbox_server, USER_ID, DEMO_ID)
    await connect(accounts, sandbox_server, USER_ID, EMPTY_ID)

    deleted = await accounts.disconnect(USER_ID, account_id=old_account_id)

    info = await accounts.status(USER_ID)
    assert deleted is False
    assert info is not None
    assert info.username == "sandbox.empty"


async def test_disconnect_named_account(
    accounts: AccountService, sandbox_server: SandboxServer
) -> None:
    account_id = await connect(accounts, sandbox_server, USER_ID, DEMO_ID)

    assert await accounts.disconnect(USER_ID, account_id=account_id) is True
    assert await accounts.status(USER_ID) is None


async def test_expired_state_log_reads_well(
    accounts: AccountService, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = state_of(await accounts.start_connect(USER_ID, USER_ID))
    clock.now += timedelta(minutes=11)

    with caplog.at_level(logging.INFO, logger="bot.services.accounts"):
        await accounts.complete_connect(state=state, code="code-value")

    assert "OAuth callback with a state that is expired" in caplog.text
