"""Group subscriptions: who may subscribe a chat, and polling that posts new Instagram posts.

Each post reaches each chat at most once, also across restarts. A delivery is recorded in
the database *before* the post is sent: if the process stops between the two, or Telegram
fails, that post is missed in that chat, but it is never sent twice. Duplicates in a group
are worse than a rare gap, and the post stays one tap away on Instagram.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.clock import Clock, utc_now
from bot.instagram import (
    InstagramClient,
    InstagramError,
    InvalidTokenError,
    MediaItem,
    MediaPage,
)
from bot.services.albums import AlbumPlan, MediaFile, UrlRefresher, build_albums, needs_children
from bot.services.delivery import DeliveryService, DeliveryStatus
from storage import Account, AccountStatus, Storage, Subscription

__all__ = [
    "CONFIRM_CALLBACK_PREFIX",
    "PollSummary",
    "SubscribeResult",
    "SubscribeStatus",
    "SubscriptionService",
    "UnsubscribeResult",
    "UnsubscribeStatus",
    "confirm_callback_data",
    "parse_confirm_callback_data",
]

logger = logging.getLogger(__name__)

CONFIRM_CALLBACK_PREFIX = "sc"
# Posts per page of an account's media read by a poll.
POLL_PAGE_SIZE = 25
# Pages read per account and poll, so one account's backlog costs a bounded number of
# Instagram requests, which Instagram rate-limits.
# NOTE: when more than MAX_POLL_PAGES * page size posts appear between two polls, the
# oldest of them are never delivered.
MAX_POLL_PAGES = 4

TOO_LARGE_NOTE = (
    "A video of this post is too large for a bot to send. "
    '<a href="{permalink}">Watch it on Instagram</a>.'
)
NO_MEDIA_NOTE = (
    "New post by @{username}, which Instagram does not let bots show. "
    '<a href="{permalink}">Open it on Instagram</a>.'
)


class SubscribeStatus(StrEnum):
    """Outcome of `/subscribe` or of an admin's confirmation."""

    SUBSCRIBED = "subscribed"
    ALREADY = "already"
    NEEDS_ADMIN = "needs_admin"
    NOT_CONNECTED = "not_connected"
    NEEDS_RECONNECT = "needs_reconnect"
    NOT_ADMIN = "not_admin"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """Result of `/subscribe`, with the callback data of the admin button when one is needed."""

    status: SubscribeStatus
    username: str | None = None
    confirm_data: str | None = None


class UnsubscribeStatus(StrEnum):
    """Outcome of `/unsubscribe`."""

    UNSUBSCRIBED = "unsubscribed"
    NOT_SUBSCRIBED = "not_subscribed"
    NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True, slots=True)
class UnsubscribeResult:
    """Result of `/unsubscribe` with the usernames of the accounts it removed."""

    status: UnsubscribeStatus
    usernames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PollSummary:
    """Counts of one poll: accounts checked, chats served, posts delivered and failed,
    seconds, and accounts whose posts Instagram did not return."""

    accounts: int
    chats: int
    delivered: int
    failed: int
    duration: float
    accounts_failed: int = 0


def confirm_callback_data(account_id: int, requested_by: int) -> str:
    """Build the callback data of the admin confirmation button, well under 64 bytes."""
    return f"{CONFIRM_CALLBACK_PREFIX}:{account_id}:{requested_by}"


def parse_confirm_callback_data(data: str) -> tuple[int, int] | None:
    """Return (account_id, requested_by) from confirmation callback data, or None if invalid."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != CONFIRM_CALLBACK_PREFIX:
        return None
    if not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])


class SubscriptionService:
    """Subscribe group chats to a member's Instagram posts and deliver new posts."""

    def __init__(
        self,
        *,
        storage: Storage,
        instagram: InstagramClient,
        delivery: DeliveryService,
        clock: Clock = utc_now,
        page_size: int = POLL_PAGE_SIZE,
    ) -> None:
        self._storage = storage
        self._instagram = instagram
        self._delivery = delivery
        self._clock = clock
        self._page_size = page_size
        self._poll_lock = asyncio.Lock()

    # Subscribing

    async def subscribe(
        self, chat_id: int, telegram_user_id: int, is_admin: bool
    ) -> SubscribeResult:
        """Subscribe the chat to the caller's account, or ask an admin to confirm.

        The caller must have a connected account. An admin subscribes directly; anyone
        else gets NEEDS_ADMIN with callback data for a button that only an admin may press.
        """
        account = await self._storage.get_account_for_user(telegram_user_id)
        if account is None or account.status is AccountStatus.DISCONNECTED:
            return SubscribeResult(SubscribeStatus.NOT_CONNECTED)
        if account.status is AccountStatus.NEEDS_RECONNECT:
            return SubscribeResult(SubscribeStatus.NEEDS_RECONNECT, account.username)
        if await self._is_subscribed(chat_id, account.id):
            return SubscribeResult(SubscribeStatus.ALREADY, account.username)
        if not is_admin:
            return SubscribeResult(
                SubscribeStatus.NEEDS_ADMIN,
                account.username,
                confirm_data=confirm_callback_data(account.id, telegram_user_id),
            )
        return await self._subscribe(chat_id, account, telegram_user_id)

    async def confirm(self, chat_id: int, callback_data: str, is_admin: bool) -> SubscribeResult:
        """Carry out a subscription that a member requested, when an admin confirms it.

        The request is STALE when the data cannot be parsed or the requester no longer has
        that account connected and active. The caller checks first that the pressed message
        shows a button with this data, because a client can send any data with a press.
        """
        parsed = parse_confirm_callback_data(callback_data)
        if parsed is None:
            return SubscribeResult(SubscribeStatus.STALE)
        if not is_admin:
            return SubscribeResult(SubscribeStatus.NOT_ADMIN)
        account_id, requested_by = parsed
        account = await self._storage.get_account(account_id)
        if (
            account is None
            or account.telegram_user_id != requested_by
            or account.status is not AccountStatus.ACTIVE
        ):
            return SubscribeResult(SubscribeStatus.STALE)
        if await self._is_subscribed(chat_id, account.id):
            return SubscribeResult(SubscribeStatus.ALREADY, account.username)
        return await self._subscribe(chat_id, account, requested_by)

    async def unsubscribe(
        self, chat_id: int, telegram_user_id: int, is_admin: bool
    ) -> UnsubscribeResult:
        """Stop posting to the chat.

        A member removes the subscription of their own account. An admin without one of
        their own removes every subscription of the chat. Anyone else gets NOT_ALLOWED.
        """
        subscriptions = await self._storage.subscriptions_for_chat(chat_id)
        if not subscriptions:
            return UnsubscribeResult(UnsubscribeStatus.NOT_SUBSCRIBED)

        account = await self._storage.get_account_for_user(telegram_user_id)
        own = [s for s in subscriptions if account is not None and s.account_id == account.id]
        if own:
            chosen = own
        elif is_admin:
            chosen = subscriptions
        else:
            return UnsubscribeResult(UnsubscribeStatus.NOT_ALLOWED)

        usernames = []
        for subscription in chosen:
            subscribed_account = await self._storage.get_account(subscription.account_id)
            await self._storage.unsubscribe(chat_id=chat_id, account_id=subscription.account_id)
            if subscribed_account is not None:
                usernames.append(subscribed_account.username)
        logger.info("Chat %s unsubscribed from %d account(s)", chat_id, len(chosen))
        return UnsubscribeResult(UnsubscribeStatus.UNSUBSCRIBED, tuple(usernames))

    # Chat lifecycle

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        """Move a group's subscriptions and deliveries to the supergroup it became."""
        moved = await self._storage.migrate_chat(old_chat_id, new_chat_id)
        if moved:
            logger.info(
                "Chat %s migrated to %s with %d subscription(s)", old_chat_id, new_chat_id, moved
            )

    async def chat_removed(self, chat_id: int, reason: str) -> None:
        """Deactivate the subscriptions of a chat that removed or blocked the bot."""
        deactivated = await self._storage.deactivate_chat(chat_id, reason=reason)
        if deactivated:
            logger.info("Chat %s deactivated %d subscription(s): %s", chat_id, deactivated, reason)

    async def _is_subscribed(self, chat_id: int, account_id: int) -> bool:
        subscriptions = await self._storage.subscriptions_for_chat(chat_id)
        return any(subscription.account_id == account_id for subscription in subscriptions)

    async def _subscribe(
        self, chat_id: int, account: Account, subscribed_by: int
    ) -> SubscribeResult:
        _, changed = await self._storage.subscribe(
            chat_id=chat_id, account_id=account.id, subscribed_by=subscribed_by, now=self._clock()
        )
        logger.info("Chat %s subscribed to account %s", chat_id, account.id)
        status = SubscribeStatus.SUBSCRIBED if changed else SubscribeStatus.ALREADY
        return SubscribeResult(status, account.username)

    # Polling

    async def poll(self) -> PollSummary:
        """Deliver new posts of every subscribed account to its chats.

        Each account's posts are read once, however many chats follow it: the newest
        page, then older pages while every post on the last page is still new to some
        chat, up to MAX_POLL_PAGES pages. The first poll of a new subscription records
        the posts published before it started as delivered instead of sending the back
        catalogue. Overlapping calls wait for each other.
        """
        async with self._poll_lock:
            started = time.perf_counter()
            subscriptions = await self._storage.active_subscriptions()
            by_account: defaultdict[int, list[Subscription]] = defaultdict(list)
            for subscription in subscriptions:
                by_account[subscription.account_id].append(subscription)

            delivered = failed = accounts_failed = 0
            for account_id, account_subscriptions in by_account.items():
                counts = await self._poll_account(account_id, account_subscriptions)
                if counts is None:
                    accounts_failed += 1
                    continue
                delivered += counts[0]
                failed += counts[1]

            summary = PollSummary(
                accounts=len(by_account),
                chats=len({subscription.chat_id for subscription in subscriptions}),
                delivered=delivered,
                failed=failed,
                duration=time.perf_counter() - started,
                accounts_failed=accounts_failed,
            )
        if summary.delivered or summary.failed:
            logger.info(
                "Subscription poll: %d account(s), %d chat(s), %d delivered, %d failed",
                summary.accounts,
                summary.chats,
                summary.delivered,
                summary.failed,
            )
        return summary

    async def _poll_account(
        self, account_id: int, subscriptions: list[Subscription]
    ) -> tuple[int, int] | None:
        """Deliver one account's new posts; return (delivered, failed), or None when
        Instagram did not return the account's posts."""
        account = await self._storage.get_account(account_id)
        if (
            account is None
            or account.status is not AccountStatus.ACTIVE
            or not account.access_token
        ):
            return 0, 0
        token = account.access_token
        page = await self._read_page(account, token, after=None)
        if page is None:
            return None

        delivered = failed = 0
        ready: list[Subscription] = []
        for subscription in subscriptions:
            if subscription.baseline_done:
                ready.append(subscription)
                continue
            try:
                await self._mark_baseline(subscription, account, page.items)
            except Exception:
                # One chat's unexpected failure must not keep the other chats waiting.
                logger.exception(
                    "Marking existing posts of account %s in chat %s failed",
                    account.id,
                    subscription.chat_id,
                )
                failed += 1
                continue
            ready.append(subscription)

        newest_first = list(page.items)
        pages_read = 1
        while (
            pages_read < MAX_POLL_PAGES
            and page.has_next
            and page.after is not None
            and await self._all_unseen(page.items, ready)
        ):
            # A later page that fails skips the account this time, because delivering
            # only the newer posts would make the next poll stop before the older ones.
            next_page = await self._read_page(account, token, after=page.after)
            if next_page is None:
                return None
            page = next_page
            pages_read += 1
            newest_first.extend(page.items)

        posts = _PreparedPosts(self._instagram, account, token)
        for subscription in ready:
            try:
                chat_delivered, chat_failed = await self._poll_chat(
                    subscription, account, tuple(newest_first), posts
                )
            except Exception:
                # One chat's unexpected failure must not keep the other chats waiting.
                logger.exception(
                    "Delivering to chat %s for account %s failed",
                    subscription.chat_id,
                    account.id,
                )
                chat_delivered, chat_failed = 0, 1
            delivered += chat_delivered
            failed += chat_failed
        return delivered, failed

    async def _read_page(
        self, account: Account, token: str, after: str | None
    ) -> MediaPage | None:
        """Fetch one page of the account's posts, or return None after logging why it failed.

        A rejected token marks the account as needing to reconnect.
        """
        try:
            return await self._instagram.media_page(token, after=after, limit=self._page_size)
        except InvalidTokenError as exc:
            await self._storage.mark_needs_reconnect(account.id, error=str(exc), now=self._clock())
            logger.info("Account %s needs reconnecting: its token was rejected", account.id)
        except InstagramError as exc:
            logger.warning("Polling account %s failed: %s", account.id, exc)
        return None

    async def _all_unseen(
        self, posts: tuple[MediaItem, ...], subscriptions: list[Subscription]
    ) -> bool:
        """Return whether every post is still undelivered to at least one of the chats.

        While this holds, older pages may contain new posts too.
        """
        if not posts or not subscriptions:
            return False
        for post in posts:
            if not await self._is_new_to_any_chat(post, subscriptions):
                return False
        return True

    async def _is_new_to_any_chat(
        self, post: MediaItem, subscriptions: list[Subscription]
    ) -> bool:
        for subscription in subscriptions:
            if _published_before(post, subscription):
                continue
            if not await self._storage.is_delivered(subscription.chat_id, post.id):
                return True
        return False

    async def _mark_baseline(
        self, subscription: Subscription, account: Account, newest_first: tuple[MediaItem, ...]
    ) -> None:
        """Record the posts published before the subscription as delivered to its chat."""
        chat_id = subscription.chat_id
        for post in newest_first:
            if _published_before(post, subscription):
                await self._storage.record_delivery(
                    subscription_id=subscription.id,
                    chat_id=chat_id,
                    media_id=post.id,
                    now=self._clock(),
                )
        await self._storage.mark_subscription_baseline(subscription.id)
        logger.info("Chat %s: marked existing posts of account %s", chat_id, account.id)

    async def _poll_chat(
        self,
        subscription: Subscription,
        account: Account,
        newest_first: tuple[MediaItem, ...],
        posts: _PreparedPosts,
    ) -> tuple[int, int]:
        chat_id = subscription.chat_id
        delivered = failed = 0
        for post in reversed(newest_first):
            if _published_before(post, subscription):
                continue
            if await self._storage.is_delivered(chat_id, post.id):
                continue
            try:
                plan = await posts.plan(post)
            except InstagramError as exc:
                # Nothing is recorded yet, so the next poll tries this post again, in order.
                logger.warning("Chat %s: preparing post %s failed: %s", chat_id, post.id, exc)
                break
            # Recorded first: see the module docstring for why a post is never sent twice.
            recorded = await self._storage.record_delivery(
                subscription_id=subscription.id,
                chat_id=chat_id,
                media_id=post.id,
                now=self._clock(),
            )
            if not recorded:
                continue
            status, chat_id = await self._send_post(
                chat_id, post, account, plan, posts.refresh_url
            )
            if status is DeliveryStatus.SENT:
                delivered += 1
            else:
                failed += 1
            if status is DeliveryStatus.CHAT_GONE:
                break
        return delivered, failed

    async def _send_post(
        self,
        chat_id: int,
        post: MediaItem,
        account: Account,
        plan: AlbumPlan,
        refresh_url: UrlRefresher,
    ) -> tuple[DeliveryStatus, int]:
        """Send a post's albums and any note; return the status and the chat id after migration."""
        permalink = html.escape(post.permalink or "", quote=True)
        if not plan.albums:
            note = NO_MEDIA_NOTE.format(
                username=html.escape(account.username), permalink=permalink
            )
            result = await self._delivery.send_text(chat_id, note)
            return result.status, result.chat_id

        too_large: list[MediaFile] = []
        status = DeliveryStatus.SENT
        for album in plan.albums:
            result = await self._delivery.send_album(chat_id, album, refresh_url=refresh_url)
            chat_id = result.chat_id
            too_large.extend(result.too_large)
            if result.status is DeliveryStatus.TOO_LARGE:
                continue
            if result.status is not DeliveryStatus.SENT:
                status = result.status
                break
        if too_large and status is DeliveryStatus.SENT:
            note_result = await self._delivery.send_text(
                chat_id, TOO_LARGE_NOTE.format(permalink=permalink)
            )
            chat_id = note_result.chat_id
        return status, chat_id


def _published_before(post: MediaItem, subscription: Subscription) -> bool:
    """Return whether the post existed when the chat subscribed, judged by its timestamp.

    Instagram timestamps have whole seconds, so a post from the second of subscribing
    counts as new.
    """
    subscribed_at = subscription.created_at.replace(microsecond=0)
    return post.timestamp is not None and post.timestamp < subscribed_at


class _PreparedPosts:
    """Albums of one account's posts, built once per poll however many chats get them."""

    def __init__(self, instagram: InstagramClient, account: Account, token: str) -> None:
        self._instagram = instagram
        self._account = account
        self._token = token
        self._plans: dict[str, AlbumPlan] = {}

    async def plan(self, post: MediaItem) -> AlbumPlan:
        """Return the albums of a post, fetching carousel children when they were not inline.

        Raises:
            InstagramError: the children could not be fetched.
        """
        cached = self._plans.get(post.id)
        if cached is not None:
            return cached
        if needs_children(post):
            children = await self._instagram.children(self._token, post.id)
            post = replace(post, children=children)
        plan = build_albums([post], self._account.instagram_user_id)
        self._plans[post.id] = plan
        return plan

    async def refresh_url(self, file: MediaFile) -> str | None:
        """Fetch a fresh URL for a file whose signed URL expired."""
        try:
            item = await self._instagram.media(self._token, file.media_id)
        except InstagramError as exc:
            logger.warning("Fetching a fresh URL for media %s failed: %s", file.media_id, exc)
            return None
        return item.media_url
