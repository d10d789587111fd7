"""DeletionService: signed requests, deauthorize and deletion requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.instagram import InvalidSignedRequest, build_signed_request
from bot.services.deletion import (
    SIGNED_REQUEST_MAX_AGE,
    SIGNED_REQUEST_MAX_SKEW,
    DeletionService,
    is_confirmation_code,
)
from storage import AccountStatus, DeletionStatus, Storage
from tests.conftest import TEST_CLIENT_SECRET

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
NOW_TIMESTAMP = int(NOW.timestamp())
INSTAGRAM_USER_ID = "17841400000000001"


def fixed_clock() -> datetime:
    return NOW


@pytest.fixture
def deletion(storage: Storage, make_settings: Callable[..., Settings]) -> DeletionService:
    return DeletionService(storage=storage, settings=make_settings(), clock=fixed_clock)


async def connect(storage: Storage, telegram_user_id: int, instagram_user_id: str) -> None:
    await storage.save_account(
        telegram_user_id=telegram_user_id,
        instagram_user_id=instagram_user_id,
        username=f"user{telegram_user_id}",
        account_type="BUSINESS",
        access_token=f"IGAA-fake-token-{telegram_user_id}",
        token_issued_at=NOW,
        token_expires_at=NOW + timedelta(days=60),
        now=NOW,
    )


def test_verify_signed_request_returns_user_id(deletion: DeletionService) -> None:
    raw = build_signed_request(
        {"user_id": INSTAGRAM_USER_ID, "issued_at": NOW_TIMESTAMP}, TEST_CLIENT_SECRET
    )

    signed = deletion.verify_signed_request(raw)

    assert signed.user_id == INSTAGRAM_USER_ID
    assert signed.issued_at == NOW_TIMESTAMP


@pytest.mark.parametrize(
    "issued_at",
    [
        NOW_TIMESTAMP - int(SIGNED_REQUEST_MAX_AGE.total_seconds()),
        NOW_TIMESTAMP + int(SIGNED_REQUEST_MAX_SKEW.total_seconds()),
    ],
)
def test_verify_signed_request_accepts_window_edges(
    deletion: DeletionService, issued_at: int
) -> None:
    raw = build_signed_request(
        {"user_id": INSTAGRAM_USER_ID, "issued_at": issued_at}, TEST_CLIENT_SECRET
    )

    assert deletion.verify_signed_request(raw).issued_at == issued_at


def test_verify_signed_request_without_issued_at(deletion: DeletionService) -> None:
    raw = build_signed_request({"user_id": INSTAGRAM_USER_ID}, TEST_CLIENT_SECRET)

    signed = deletion.verify_signed_request(raw)

    assert signed.user_id == INSTAGRAM_USER_ID
    assert signed.issued_at is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"user_id": INSTAGRAM_USER_ID, "issued_at": 1}, "too old"),
        (
            {
                "user_id": INSTAGRAM_USER_ID,
                "issued_at": NOW_TIMESTAMP - int(SIGNED_REQUEST_MAX_AGE.total_seconds()) - 1,
            },
            "too old",
        ),
        (
            {
                "user_id": INSTAGRAM_USER_ID,
                "issued_at": NOW_TIMESTAMP + int(SIGNED_REQUEST_MAX_SKEW.total_seconds()) + 1,
            },
            "future",
        ),
        ({"user_id": INSTAGRAM_USER_ID, "issued_at": 10**15}, "future"),
    ],
)
def test_verify_signed_request_rejects_stale_or_future(
    deletion: DeletionService, payload: dict[str, object], reason: str
) -> None:
    raw = build_signed_request(payload, TEST_CLIENT_SECRET)

    with pytest.raises(InvalidSignedRequest, match=reason):
        deletion.verify_signed_request(raw)


def test_verify_signed_request_rejects_other_secret(deletion: DeletionService) -> None:
    raw = build_signed_request({"user_id": INSTAGRAM_USER_ID}, "another-app-secret")

    with pytest.raises(InvalidSignedRequest):
        deletion.verify_signed_request(raw)


async def test_deauthorize_disconnects_every_connection(
    deletion: DeletionService, storage: Storage
) -> None:
    await connect(storage, 1, INSTAGRAM_USER_ID)
    await connect(storage, 2, INSTAGRAM_USER_ID)
    await connect(storage, 3, "17841400000000009")

    changed = await deletion.deauthorize(INSTAGRAM_USER_ID)

    assert changed == 2
    for telegram_user_id in (1, 2):
        account = await storage.get_account_for_user(telegram_user_id)
        assert account is not None
        assert account.status is AccountStatus.DISCONNECTED
        assert account.access_token is None
    other = await storage.get_account_for_user(3)
    assert other is not None
    assert other.status is AccountStatus.ACTIVE


async def test_request_deletion_issues_pending_code(
    deletion: DeletionService, storage: Storage
) -> None:
    request = await deletion.request_deletion(INSTAGRAM_USER_ID)

    assert is_confirmation_code(request.confirmation_code)
    assert request.status is DeletionStatus.PENDING
    assert request.requested_at == NOW


async def test_request_deletion_codes_are_unique(deletion: DeletionService) -> None:
    first = await deletion.request_deletion(INSTAGRAM_USER_ID)
    second = await deletion.request_deletion(INSTAGRAM_USER_ID)

    assert first.confirmation_code != second.confirmation_code


async def test_replayed_request_keeps_first_code(
    deletion: DeletionService, storage: Storage
) -> None:
    first = await deletion.request_deletion(INSTAGRAM_USER_ID, issued_at=NOW_TIMESTAMP)
    await deletion.carry_out(first.confirmation_code)

    replay = await deletion.request_deletion(INSTAGRAM_USER_ID, issued_at=NOW_TIMESTAMP)

    assert is_confirmation_code(first.confirmation_code)
    assert replay.confirmation_code == first.confirmation_code
    assert replay.status is DeletionStatus.COMPLETED
    assert await storage.pending_deletion_requests() == []


async def test_new_signed_request_gets_new_code(deletion: DeletionService) -> None:
    first = await deletion.request_deletion(INSTAGRAM_USER_ID, issued_at=NOW_TIMESTAMP)
    later = await deletion.request_deletion(INSTAGRAM_USER_ID, issued_at=NOW_TIMESTAMP + 60)
    other_user = await deletion.request_deletion("17841400000000009", issued_at=NOW_TIMESTAMP)

    assert later.confirmation_code != first.confirmation_code
    assert other_user.confirmation_code != first.confirmation_code


async def test_carry_out_deletes_data_and_completes(
    deletion: DeletionService, storage: Storage
) -> None:
    await connect(storage, 1, INSTAGRAM_USER_ID)
    await connect(storage, 2, INSTAGRAM_USER_ID)
    request = await deletion.request_deletion(INSTAGRAM_USER_ID)

    assert await deletion.carry_out(request.confirmation_code) is True
    assert await deletion.carry_out(request.confirmation_code) is False

    assert await storage.accounts_for_instagram_user(INSTAGRAM_USER_ID) == []
    status = await deletion.status(request.confirmation_code)
    assert status is not None
    assert status.status is DeletionStatus.COMPLETED
    assert status.completed_at == NOW


async def test_process_pending_completes_unknown_user(
    deletion: DeletionService, storage: Storage
) -> None:
    request = await deletion.request_deletion("99999999")

    completed = await deletion.process_pending()

    assert completed == 1
    assert await storage.pending_deletion_requests() == []
    status = await deletion.status(request.confirmation_code)
    assert status is not None
    assert status.status is DeletionStatus.COMPLETED


async def test_process_pending_with_nothing_pending(deletion: DeletionService) -> None:
    assert await deletion.process_pending() == 0


@pytest.mark.parametrize(
    "code", ["", "0" * 31, "0" * 33, "G" * 32, "../../etc/passwd", "0123456789abcdef" * 2 + "\n"]
)
async def test_status_rejects_malformed_code(deletion: DeletionService, code: str) -> None:
    assert await deletion.status(code) is None


async def test_status_of_unknown_code(deletion: DeletionService) -> None:
    assert await deletion.status("0123456789abcdef" * 2) is None
