"""Group subscriptions, delivery records and chat migration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storage_helpers import (
    GROUP_CHAT_ID,
    NOW,
    OTHER_GROUP_CHAT_ID,
    OTHER_INSTAGRAM_USER_ID,
    OTHER_TELEGRAM_USER_ID,
    TELEGRAM_USER_ID,
    save_test_account,
)

from storage import Account, StorageError, Subscription
from storage.sqlite import SQLiteStorage

MEDIA_ID = "18000000000000001"
OTHER_MEDIA_ID = "18000000000000002"
THIRD_MEDIA_ID = "18000000000000003"


async def subscribe(
    storage: SQLiteStorage, account: Account, chat_id: int = GROUP_CHAT_ID
) -> Subscription:
    subscription, _ = await storage.subscribe(
        chat_id=chat_id, account_id=account.id, subscribed_by=account.telegram_user_id, now=NOW
    )
    return subscription


async def test_subscribe_creates_once(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)

    created, created_changed = await storage.subscribe(
        chat_id=GROUP_CHAT_ID, account_id=account.id, subscribed_by=TELEGRAM_USER_ID, now=NOW
    )
    again, again_changed = await storage.subscribe(
        chat_id=GROUP_CHAT_ID,
        account_id=account.id,
        subscribed_by=OTHER_TELEGRAM_USER_ID,
        now=NOW + timedelta(hours=1),
    )

    assert created_changed is True
    assert created.chat_id == GROUP_CHAT_ID
    assert created.account_id == account.id
    assert created.subscribed_by == TELEGRAM_USER_ID
    assert created.active is True
    assert created.baseline_done is False
    assert created.created_at == NOW
    assert again_changed is False
    assert again == created


async def test_subscribe_reactivates_and_resets_baseline(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    created = await subscribe(storage, account)
    await storage.mark_subscription_baseline(created.id)
    await storage.deactivate_chat(GROUP_CHAT_ID, reason="bot removed from the group")

    reactivated, changed = await storage.subscribe(
        chat_id=GROUP_CHAT_ID, account_id=account.id, subscribed_by=TELEGRAM_USER_ID, now=NOW
    )

    assert changed is True
    assert reactivated.id == created.id
    assert reactivated.active is True
    assert reactivated.baseline_done is False
    assert reactivated.deactivated_reason is None


async def test_subscribe_unknown_account_raises(storage: SQLiteStorage) -> None:
    with pytest.raises(StorageError):
        await storage.subscribe(
            chat_id=GROUP_CHAT_ID, account_id=99999, subscribed_by=TELEGRAM_USER_ID, now=NOW
        )


async def test_unsubscribe_removes_deliveries(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    subscription = await subscribe(storage, account)
    await storage.record_delivery(
        subscription_id=subscription.id, chat_id=GROUP_CHAT_ID, media_id=MEDIA_ID, now=NOW
    )

    assert await storage.unsubscribe(chat_id=GROUP_CHAT_ID, account_id=account.id) is True
    assert await storage.unsubscribe(chat_id=GROUP_CHAT_ID, account_id=account.id) is False
    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == []
    assert await storage.is_delivered(GROUP_CHAT_ID, MEDIA_ID) is False


async def test_active_subscriptions_need_active_account(storage: SQLiteStorage) -> None:
    first = await save_test_account(storage, telegram_user_id=2)
    second = await save_test_account(
        storage, telegram_user_id=1, instagram_user_id=OTHER_INSTAGRAM_USER_ID
    )
    broken = await save_test_account(storage, telegram_user_id=3)
    first_other_chat = await subscribe(storage, first, OTHER_GROUP_CHAT_ID)
    second_group = await subscribe(storage, second)
    first_group = await subscribe(storage, first)
    await subscribe(storage, broken)
    await storage.mark_needs_reconnect(broken.id, error="code 190", now=NOW)
    inactive = await subscribe(storage, second, OTHER_GROUP_CHAT_ID)
    await storage.deactivate_chat(OTHER_GROUP_CHAT_ID, reason="bot blocked")

    active = await storage.active_subscriptions()

    assert [subscription.id for subscription in active] == [first_group.id, second_group.id]
    assert first_other_chat.id not in {subscription.id for subscription in active}
    assert inactive.id not in {subscription.id for subscription in active}


async def test_subscriptions_for_chat_active_only(storage: SQLiteStorage) -> None:
    first = await save_test_account(storage)
    second = await save_test_account(
        storage, telegram_user_id=OTHER_TELEGRAM_USER_ID, instagram_user_id=OTHER_INSTAGRAM_USER_ID
    )
    first_subscription = await subscribe(storage, first)
    second_subscription = await subscribe(storage, second)

    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == [
        first_subscription,
        second_subscription,
    ]
    assert await storage.deactivate_chat(GROUP_CHAT_ID, reason="bot removed") == 2
    assert await storage.deactivate_chat(GROUP_CHAT_ID, reason="bot removed") == 0
    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == []


async def test_deactivate_chat_records_reason(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    subscription = await subscribe(storage, account)

    await storage.deactivate_chat(GROUP_CHAT_ID, reason="bot blocked")
    row = await storage._fetch_one(
        "SELECT active, deactivated_reason FROM subscriptions WHERE id = ?", (subscription.id,)
    )

    assert row is not None
    assert row["active"] == 0
    assert row["deactivated_reason"] == "bot blocked"


async def test_mark_subscription_baseline(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    subscription = await subscribe(storage, account)

    await storage.mark_subscription_baseline(subscription.id)
    stored = await storage.subscriptions_for_chat(GROUP_CHAT_ID)

    assert stored[0].baseline_done is True


async def test_record_delivery_once(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    subscription = await subscribe(storage, account)
    delivered_at = NOW + timedelta(minutes=5)

    first = await storage.record_delivery(
        subscription_id=subscription.id, chat_id=GROUP_CHAT_ID, media_id=MEDIA_ID, now=delivered_at
    )
    second = await storage.record_delivery(
        subscription_id=subscription.id,
        chat_id=GROUP_CHAT_ID,
        media_id=MEDIA_ID,
        now=delivered_at + timedelta(minutes=5),
    )
    stored = (await storage.subscriptions_for_chat(GROUP_CHAT_ID))[0]

    assert first is True
    assert second is False
    assert await storage.is_delivered(GROUP_CHAT_ID, MEDIA_ID) is True
    assert await storage.is_delivered(GROUP_CHAT_ID, OTHER_MEDIA_ID) is False
    assert await storage.is_delivered(OTHER_GROUP_CHAT_ID, MEDIA_ID) is False
    assert stored.last_delivered_media_id == MEDIA_ID
    assert stored.last_delivered_at == delivered_at


async def test_migrate_chat_moves_everything(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    subscription = await subscribe(storage, account)
    await storage.mark_subscription_baseline(subscription.id)
    await storage.record_delivery(
        subscription_id=subscription.id, chat_id=GROUP_CHAT_ID, media_id=MEDIA_ID, now=NOW
    )

    moved = await storage.migrate_chat(GROUP_CHAT_ID, OTHER_GROUP_CHAT_ID)
    migrated = await storage.subscriptions_for_chat(OTHER_GROUP_CHAT_ID)

    assert moved == 1
    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == []
    assert len(migrated) == 1
    assert migrated[0].id == subscription.id
    assert migrated[0].baseline_done is True
    assert await storage.is_delivered(OTHER_GROUP_CHAT_ID, MEDIA_ID) is True
    assert await storage.is_delivered(GROUP_CHAT_ID, MEDIA_ID) is False
    assert await storage.migrate_chat(GROUP_CHAT_ID, OTHER_GROUP_CHAT_ID) == 0


async def test_migrate_chat_merges_existing(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    old = await subscribe(storage, account, GROUP_CHAT_ID)
    new = await subscribe(storage, account, OTHER_GROUP_CHAT_ID)
    await storage.mark_subscription_baseline(old.id)
    await storage.deactivate_chat(OTHER_GROUP_CHAT_ID, reason="bot removed")
    for media_id in (MEDIA_ID, OTHER_MEDIA_ID):
        await storage.record_delivery(
            subscription_id=old.id, chat_id=GROUP_CHAT_ID, media_id=media_id, now=NOW
        )
    for media_id in (OTHER_MEDIA_ID, THIRD_MEDIA_ID):
        await storage.record_delivery(
            subscription_id=new.id, chat_id=OTHER_GROUP_CHAT_ID, media_id=media_id, now=NOW
        )

    moved = await storage.migrate_chat(GROUP_CHAT_ID, OTHER_GROUP_CHAT_ID)
    merged = await storage.subscriptions_for_chat(OTHER_GROUP_CHAT_ID)

    assert moved == 1
    assert len(merged) == 1
    assert merged[0].id == new.id
    assert merged[0].active is True
    assert merged[0].baseline_done is True
    assert merged[0].deactivated_reason is None
    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == []
    for media_id in (MEDIA_ID, OTHER_MEDIA_ID, THIRD_MEDIA_ID):
        assert await storage.is_delivered(OTHER_GROUP_CHAT_ID, media_id) is True
        assert await storage.is_delivered(GROUP_CHAT_ID, media_id) is False
    assert (
        await storage.record_delivery(
            subscription_id=new.id, chat_id=OTHER_GROUP_CHAT_ID, media_id=MEDIA_ID, now=NOW
        )
        is False
    )


async def test_migrate_chat_to_itself_changes_nothing(storage: SQLiteStorage) -> None:
    account = await save_test_account(storage)
    subscription = await subscribe(storage, account)

    assert await storage.migrate_chat(GROUP_CHAT_ID, GROUP_CHAT_ID) == 0
    assert await storage.subscriptions_for_chat(GROUP_CHAT_ID) == [subscription]
