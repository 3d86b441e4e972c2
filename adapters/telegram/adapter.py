"""The Telegram adapter's lifecycle: python-telegram-bot's Application, polling or webhook,
feeding translated events to the dispatcher and performing actions through the Bot."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from adapters.telegram.perform import TelegramPerformer
from adapters.telegram.translate import ALLOWED_UPDATES, Translator
from bot.actions import Action, ActionResult
from bot.config import StartupError, TelegramSettings, mask_secret
from bot.dispatch import Dispatcher
from bot.events import ChatMigrated

__all__ = ["TelegramAdapter"]

log = logging.getLogger(__name__)


class TelegramAdapter:
    platform = "telegram"

    def __init__(self, settings: TelegramSettings) -> None:
        if settings.token is None:
            raise ValueError("the Telegram adapter needs a token")
        self.settings = settings
        self.stale_after: timedelta | None = timedelta(seconds=settings.stale_after)
        self.bot_username: str | None = None
        self.dispatcher: Dispatcher | None = None
        self.application: Application = self._build(settings)  # type: ignore[type-arg]
        self.translator: Translator | None = None
        self.performer: TelegramPerformer | None = None

    @staticmethod
    def _build(settings: TelegramSettings) -> Application:  # type: ignore[type-arg]
        assert settings.token is not None
        timeout = settings.request_timeout
        return (
            ApplicationBuilder()
            .token(settings.token.get_secret_value())
            .base_url(settings.base_url)
            .base_file_url(settings.base_file_url)
            .request(
                HTTPXRequest(
                    connection_pool_size=32,
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    pool_timeout=timeout,
                )
            )
            .get_updates_request(
                HTTPXRequest(read_timeout=settings.poll_timeout + timeout, connect_timeout=timeout)
            )
            .build()
        )

    async def start(self, dispatcher: Dispatcher) -> None:
        """Log in (``getMe``), then poll or open the webhook. Updates flow to the dispatcher."""
        self.dispatcher = dispatcher
        application = self.application
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        try:
            await application.initialize()
        except BaseException as error:  # a refusal, no network, or a stop while logging in
            await application.bot.shutdown()  # the HTTP clients opened before getMe failed
            if isinstance(error, TelegramError):
                raise self._startup_error(error, "log in") from None
            raise
        try:
            await self._serve()
        except BaseException as error:
            await self.stop()
            if isinstance(error, TelegramError | OSError):
                raise self._startup_error(error, f"start {self.settings.mode}") from None
            raise
        log.info("telegram: @%s connected (%s)", application.bot.username, self.settings.mode)

    async def _serve(self) -> None:
        """Translator and performer for the logged-in bot, then polling or the webhook."""
        application = self.application
        bot = application.bot
        self.bot_username = bot.username
        self.translator = Translator(bot.id, bot.username)
        self.performer = TelegramPerformer(
            bot, self.translator, cache_seconds=self.settings.admin_cache_seconds
        )
        await application.start()
        updater = application.updater
        assert updater is not None
        if self.settings.mode == "webhook":
            secret = self.settings.secret_token
            await updater.start_webhook(
                listen=self.settings.listen,
                port=self.settings.port,
                url_path=self.settings.url_path,
                webhook_url=self.settings.webhook_url,
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await updater.start_polling(
                timeout=timedelta(seconds=self.settings.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
            )

    def _startup_error(self, error: Exception, step: str) -> StartupError:
        """One line on what failed and one on what to do; the token is never in either."""
        token = self.settings.token.get_secret_value() if self.settings.token else None
        if isinstance(error, InvalidToken):
            return StartupError(
                "Telegram refused the bot token (telegram.token).",
                "Copy the token again from @BotFather into [telegram] token"
                " (or QUNBOT_TELEGRAM__TOKEN) and start again.",
            )
        reason = mask_secret(str(error), token)
        if isinstance(error, OSError) and self.settings.mode == "webhook":
            return StartupError(
                f"Cannot {step} on {self.settings.listen}:{self.settings.port}: {reason}",
                "Check [telegram] listen and port (is another program using the port?).",
            )
        if isinstance(error, NetworkError | OSError):
            server = urlsplit(self.settings.base_url)
            return StartupError(
                f"Cannot reach the Telegram Bot API at {server.scheme}://{server.netloc}"
                f" to {step}: {reason}",
                "Check the network connection (and [telegram] base_url), then start again.",
            )
        return StartupError(
            f"Telegram refused to {step}: {reason}",
            "Check the [telegram] settings named in the message, then start again.",
        )

    async def stop_intake(self) -> None:
        """Stop taking updates (shutdown drains what was taken, then calls ``stop``)."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def stop(self) -> None:
        application = self.application
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    async def _on_update(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Translate and queue; returns at once so chats are handled concurrently."""
        assert self.translator is not None and self.dispatcher is not None
        if not isinstance(update, Update):
            return
        if update.my_chat_member is not None and self.performer is not None:
            # The bot was promoted or demoted: its cached rights in that chat are stale.
            self.performer.forget(str(update.my_chat_member.chat.id))
        for event in self.translator.translate(update):
            if isinstance(event, ChatMigrated) and self.performer is not None:
                self.performer.forget(event.chat.id)
            self.dispatcher.submit(event)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: error while handling an update", exc_info=context.error)

    async def perform(self, action: Action) -> ActionResult:
        assert self.performer is not None, "start() the adapter first"
        return await self.performer.perform(action)

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        assert self.performer is not None, "start() the adapter first"
        return await self.performer.is_admin(chat_id, user_id)
