"""Build every part of the bot and start and stop them in order.

Start order: storage, HTTP client, listening socket, Instagram client, Telegram application,
services and handlers, web server, update processing, scheduler, and last the update source
(long polling or the webhook). `stop()` undoes the same steps in reverse, so updates stop
arriving first and the database closes last, after every in-flight write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web
from pydantic import AnyHttpUrl, SecretStr
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter

from bot.config import ConfigError, Settings
from bot.handlers import SERVICES_KEY, register_handlers
from bot.handlers.texts import BOT_COMMANDS
from bot.instagram import InstagramClient
from bot.services import Services
from bot.services.pacing import GovernorRateLimiter, SendGovernor
from bot.web import WebContext, WebhookTarget, create_web_app
from storage import open_storage

if TYPE_CHECKING:
    from bot.jobs import JobScheduler
    from storage import Storage

__all__ = ["GramlinkApp", "create_app"]

logger = logging.getLogger(__name__)

# After a RetryAfter error the rate limiter pauses every request for the time Telegram
# requests, then retries. After this many retries the RetryAfter reaches the caller.
TELEGRAM_MAX_RETRIES = 3
# Maximum number of updates handled at once, so a slow Instagram call for one user does not
# hold up the others.
CONCURRENT_UPDATES = 32
# Seconds to wait for a Bot API response, because sending media by URL makes Telegram fetch
# the file first.
TELEGRAM_READ_TIMEOUT = 30.0
INSTAGRAM_TIMEOUT = httpx.Timeout(20.0, connect=10.0)

# Addresses that listen on every interface, so loopback reaches the server through them.
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def create_app(
    settings: Settings,
    *,
    sandbox: bool = False,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    bot_link_url: str | None = None,
) -> GramlinkApp:
    """Create the bot process from settings. Nothing opens until `start()`.

    `rate_limiter` replaces the default one, a `GovernorRateLimiter` at Telegram's limits.
    `bot_link_url` replaces `https://t.me/<bot username>` as the link from web pages back
    to the bot; the demo points it at its web chat.
    """
    return GramlinkApp(
        settings,
        sandbox=sandbox or settings.sandbox,
        rate_limiter=rate_limiter,
        bot_link_url=bot_link_url,
    )


class GramlinkApp:
    """One running bot: Telegram application, web server, scheduler and their resources."""

    def __init__(
        self,
        settings: Settings,
        *,
        sandbox: bool = False,
        rate_limiter: BaseRateLimiter[Any] | None = None,
        bot_link_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self._rate_limiter = rate_limiter
        self._bot_link_url = bot_link_url
        self._stack = contextlib.AsyncExitStack()
        self._started = False
        self._accepting_updates = False
        self._bound_port: int | None = None
        self._application: AnyApplication | None = None
        self._services: Services | None = None
        self._scheduler: JobScheduler | None = None

    @property
    def bound_port(self) -> int:
        """The TCP port the web server listens on, known after `start()`."""
        if self._bound_port is None:
            raise RuntimeError("the web server has no port yet: call start() first")
        return self._bound_port

    @property
    def local_url(self) -> str:
        """Base URL of the web server over loopback, for server-to-server calls and tests."""
        host = self.settings.http_host
        if host in _WILDCARD_HOSTS:
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.bound_port}"

    @property
    def application(self) -> AnyApplication:
        """The python-telegram-bot application, built by `start()`."""
        if self._application is None:
            raise RuntimeError("the Telegram application is not built: call start() first")
        return self._application

    @property
    def services(self) -> Services:
        """The services of the running bot, built by `start()`."""
        if self._services is None:
            raise RuntimeError("the services are not built: call start() first")
        return self._services

    @property
    def scheduler(self) -> JobScheduler:
        """The job scheduler, built by `start()`."""
        if self._scheduler is None:
            raise RuntimeError("the scheduler is not built: call start() first")
        return self._scheduler

    async def start(self) -> None:
        """Open every resource and start serving. On failure, close what was opened.

        Raises:
            ConfigError: the web server port cannot be bound.
            StorageError: the database cannot be opened or migrated.
            telegram.error.TelegramError: Telegram rejects the token or cannot be reached.
        """
        if self._started:
            raise RuntimeError("the app is already started")
        self._started = True
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            self._started = False
            raise

    async def stop(self) -> None:
        """Stop in reverse start order, letting running handlers, jobs and writes finish."""
        if not self._started:
            return
        logger.info("Stopping")
        await self._stack.aclose()
        self._started = False
        logger.info("Stopped")

    async def run_until_signal(self, on_started: Callable[[], None] | None = None) -> None:
        """Start, serve until SIGINT or SIGTERM, then stop. `on_started` runs once serving."""
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_requested.set)
        try:
            await self.start()
            if on_started is not None:
                on_started()
            await stop_requested.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await self.stop()

    async def _start(self) -> None:
        settings = self.settings
        stack = self._stack

        storage = await open_storage(
            settings.database_url, encryption_key=_encryption_key(settings)
        )
        stack.push_async_callback(storage.close)
        logger.info("Database open at %s", _database_location(settings.database_url))

        http_client = httpx.AsyncClient(timeout=INSTAGRAM_TIMEOUT, follow_redirects=False)
        stack.push_async_callback(http_client.aclose)

        listener = self._bind_listener()
        stack.callback(listener.close)
        if self.sandbox:
            settings = _sandbox_settings(settings, server_url=self.local_url)
            self.settings = settings

        instagram = InstagramClient.from_settings(settings, http_client=http_client)
        stack.push_async_callback(instagram.aclose)

        application = self._build_application()
        try:
            await application.initialize()
        except BaseException:
            # initialize() opened the Bot API connection before getMe failed, and
            # application.shutdown() skips an application that never finished initializing.
            await application.bot.request.shutdown()
            raise
        stack.push_async_callback(application.shutdown)
        self._application = application

        services = _build_services(settings, storage, instagram, application, http_client)
        application.bot_data[SERVICES_KEY] = services
        self._services = services
        register_handlers(application)
        await self._set_commands(application)

        await self._start_web_server(services, application, listener)

        await application.start()
        stack.push_async_callback(application.stop)

        self._start_scheduler(services)
        await self._start_updates(application)
        logger.info("Gramlink is running as @%s", application.bot.username)

    def _bind_listener(self) -> socket.socket:
        # The socket is bound before anything else is built, so HTTP_PORT=0 resolves to a
        # real port that the sandbox URLs can name.
        host, port = self.settings.http_host, self.settings.http_port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            listener = socket.create_server((host, port), family=family, backlog=128)
        except OSError as exc:
            raise ConfigError(
                f"HTTP_HOST {host} and HTTP_PORT {port} cannot be bound ({exc.strerror}); "
                "choose another port or stop the process that uses it"
            ) from None
        self._bound_port = listener.getsockname()[1]
        return listener

    def _build_application(self) -> AnyApplication:
        api_url = self.settings.telegram_api_base
        # Every chat-bound Bot API call, album items counted one by one, goes through one
        # sliding-window governor. PTB's AIORateLimiter is not used: its leaky buckets hold as
        # many messages as their rate, so after a pause they pass up to twice the rate within
        # one window and Telegram returns 429. DeliveryService gets no governor of its own.
        rate_limiter = self._rate_limiter or GovernorRateLimiter(
            SendGovernor(), max_retries=TELEGRAM_MAX_RETRIES
        )
        builder = (
            ApplicationBuilder()
            .token(self.settings.telegram_bot_token.get_secret_value())
            .base_url(f"{api_url}/bot")
            .base_file_url(f"{api_url}/file/bot")
            .rate_limiter(rate_limiter)
            .job_queue(None)
            .concurrent_updates(CONCURRENT_UPDATES)
            .read_timeout(TELEGRAM_READ_TIMEOUT)
        )
        if self.settings.webhook_mode:
            builder = builder.updater(None)
        return builder.build()

    async def _set_commands(self, application: AnyApplication) -> None:
        commands = [BotCommand(command, description) for command, description in BOT_COMMANDS]
        try:
            await application.bot.set_my_commands(commands)
        except TelegramError as exc:
            # Clients then show no command menu, but every command still works.
            logger.warning("setMyCommands failed: %s", exc)

    async def _start_web_server(
        self, services: Services, application: AnyApplication, listener: socket.socket
    ) -> None:
        webhook = None
        secret = self.settings.telegram_webhook_secret
        if secret is not None:
            webhook = WebhookTarget(
                secret=secret.get_secret_value(),
                deliver=lambda data: self._deliver_update(application, data),
            )
        context = WebContext(
            services=services,
            bot_username=application.bot.username,
            bot_link_url=self._bot_link_url or "",
            scheduler_running=self._scheduler_running,
            webhook=webhook,
        )
        web_app = create_web_app(context, sandbox_app=self._sandbox_app())

        # aiohttp's own access log would write query strings, which carry OAuth codes.
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        await web.SockSite(runner, listener).start()
        logger.info(
            "Web server listening on %s:%d (public URL %s)",
            self.settings.http_host,
            self.bound_port,
            self.settings.public_url_base,
        )
        if self.sandbox:
            logger.info("Instagram sandbox served at %s/sandbox", self.settings.public_url_base)

    def _sandbox_app(self) -> web.Application | None:
        if not self.sandbox:
            return None
        from bot.sandbox import create_sandbox_app

        return create_sandbox_app(public_url=self.settings.public_url_base)

    def _start_scheduler(self, services: Services) -> None:
        from bot.jobs import create_scheduler

        scheduler = create_scheduler(services)
        scheduler.start()
        self._stack.push_async_callback(scheduler.shutdown)
        self._scheduler = scheduler

    async def _start_updates(self, application: AnyApplication) -> None:
        secret = self.settings.telegram_webhook_secret
        if secret is None:
            updater = application.updater
            if updater is None:
                raise RuntimeError("long polling needs the application's updater")
            await updater.start_polling(
                drop_pending_updates=False, allowed_updates=Update.ALL_TYPES
            )
            self._stack.push_async_callback(updater.stop)
            logger.info("Telegram: long polling %s", self.settings.telegram_api_base)
            return

        url = f"{self.settings.public_url_base}/telegram/webhook"
        await application.bot.set_webhook(
            url,
            secret_token=secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
        )
        self._accepting_updates = True
        self._stack.callback(self._stop_accepting_updates)
        # The webhook stays registered while the bot is down, so Telegram keeps the updates.
        logger.info("Telegram: webhook set to %s", url)

    def _stop_accepting_updates(self) -> None:
        self._accepting_updates = False

    async def _deliver_update(self, application: AnyApplication, data: dict[str, Any]) -> bool:
        if not self._accepting_updates:
            return False
        try:
            update = Update.de_json(data, application.bot)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("the request body is not a valid Telegram update") from exc
        await application.update_queue.put(update)
        return True

    def _scheduler_running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running


def _build_services(
    settings: Settings,
    storage: Storage,
    instagram: InstagramClient,
    application: AnyApplication,
    http_client: httpx.AsyncClient,
) -> Services:
    from bot.services.accounts import AccountService
    from bot.services.deletion import DeletionService
    from bot.services.delivery import DeliveryService
    from bot.services.feed import FeedService
    from bot.services.notifier import Notifier
    from bot.services.refresh import RefreshService
    from bot.services.subscriptions import SubscriptionService

    bot = application.bot
    notifier = Notifier(bot)
    delivery = DeliveryService(bot, storage=storage, http_client=http_client)
    return Services(
        settings=settings,
        storage=storage,
        instagram=instagram,
        notifier=notifier,
        accounts=AccountService(
            storage=storage, instagram=instagram, notifier=notifier, settings=settings
        ),
        deletion=DeletionService(storage=storage, settings=settings),
        feed=FeedService(storage=storage, instagram=instagram),
        delivery=delivery,
        subscriptions=SubscriptionService(storage=storage, instagram=instagram, delivery=delivery),
        refresh=RefreshService(
            storage=storage,
            instagram=instagram,
            notifier=notifier,
            settings=settings,
            # Known after initialize(); the reconnect message carries a t.me button then.
            bot_username=lambda: bot.username,
        ),
    )


def _sandbox_settings(settings: Settings, *, server_url: str) -> Settings:
    """Point the Instagram settings at the sandbox that this process serves.

    The browser opens the authorize page through PUBLIC_URL; the token and Graph calls are
    made by this process to itself over loopback.
    """
    from bot.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, sandbox_urls

    browser_urls = sandbox_urls(settings.public_url_base)
    server_urls = sandbox_urls(server_url)
    return settings.model_copy(
        update={
            "sandbox": True,
            "instagram_client_id": SANDBOX_CLIENT_ID,
            "instagram_client_secret": SecretStr(SANDBOX_CLIENT_SECRET),
            "instagram_authorize_url": AnyHttpUrl(browser_urls["authorize_url"]),
            "instagram_api_url": AnyHttpUrl(server_urls["api_url"]),
            "instagram_graph_url": AnyHttpUrl(server_urls["graph_url"]),
        }
    )


def _encryption_key(settings: Settings) -> str | None:
    key = settings.token_encryption_key
    return key.get_secret_value() if key is not None else None


def _database_location(database_url: str) -> str:
    return database_url.removeprefix("sqlite:///")
