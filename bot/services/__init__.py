"""Services: the bot's behaviour, kept free of handler and web-server types.

Handlers, web routes and jobs receive one `Services` object and call into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.instagram import InstagramClient
    from bot.services.accounts import AccountService
    from bot.services.deletion import DeletionService
    from bot.services.delivery import DeliveryService
    from bot.services.feed import FeedService
    from bot.services.notifier import Notifier
    from bot.services.refresh import RefreshService
    from bot.services.subscriptions import SubscriptionService
    from storage import Storage

__all__ = ["Services"]


@dataclass(slots=True)
class Services:
    """Every service of one running bot, built once by `bot.app.create_app`."""

    settings: Settings
    storage: Storage
    instagram: InstagramClient
    notifier: Notifier
    accounts: AccountService
    deletion: DeletionService
    feed: FeedService
    delivery: DeliveryService
    subscriptions: SubscriptionService
    refresh: RefreshService
