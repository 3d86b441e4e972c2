"""The Telegram adapter's lifecycle: python-telegram-bot's Application, polling or webhook,
feeding translated events to the dispatcher and performing actions through the Bot.

Intake is at-least-once with backpressure: the adapter runs its own ``getUpdates`` loop (PTB's
Updater does not poll), records each page in one transaction (``Dispatcher.intake``) and only
then asks for the next page, whose offset confirms the recorded one to Telegram. It asks for
no more than ``max_pending`` minus the updates still unhandled, and waits while none fit. In
webhook mode its own HTTP server (``adapters.telegram.webhook``) answers a post only once its
update is recorded (a failure answers 500: Telegram sends the update again). Both hand the
updates' JSON over (``receive_json``). Before polling, updates recorded and not handled by an earlier run
are handled from the database (``Dispatcher.replay``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from adapters.base import Adapter, Host
from adapters.telegram.perform import TelegramPerformer
from adapters.telegram.request import AiohttpRequest
from adapters.telegram.translate import ALLOWED_UPDATES, Translator
from adapters.telegram.webhook import WebhookServer
from bot.actions import Action, ActionResult
from bot.config import StartupError, TelegramSettings, mask_secret
from bot.events import ChatMigrated, EventBase

__all__ = ["TelegramAdapter"]

log = logging.getLogger(__name__)


#: Longest wait between attempts after getUpdates or the recording failed.
MAX_BACKOFF = 30.0
#: Connections to the Bot API for calls (getUpdates has its own): room for a burst of button
#: answers going out side by side (``bot.dispatch.ANSWERS_AT_ONCE`` per chat) next to the
#: chats' messages: python-telegram-bot's own default.
CONNECTIONS = 256


def _whole(value: object) -> bool:
    return type(value) is int


class _RecordingQueue(asyncio.Queue):  # type: ignore[type-arg]
    """PTB's update queue, where the webhook handler puts each update it received: the put
    records the update before the handler answers Telegram; an error answers 500."""

    def __init__(self) -> None:
        super().__init__()
        self.take: TelegramAdapter | None = None

    async def put(self, item: object) -> None:
        if isinstance(item, Update) and self.take is not None:
            adapter = self.take
            assert adapter.dispatcher is not None
            # Backpressure: Telegram waits for the answer (and sends no more meanwhile than
            # its connection limit) while max_pending updates are unhandled.
            await adapter.dispatcher.room(adapter.platform, adapter.max_pending)
            await adapter.receive([item])
        else:
            await super().put(item)  # PTB's own signals (its stop)


class TelegramAdapter(Adapter):
    platform = "telegram"

    def __init__(self, settings: TelegramSettings) -> None:
        if settings.token is None:
            raise ValueError("the Telegram adapter needs a token")
        self.settings = settings
        self.stale_after: timedelta | None = timedelta(seconds=settings.stale_after)
        #: Updates fetched and not yet handled, at most (the dispatcher reads it on attach).
        self.max_pending = settings.max_pending
        self._queue = _RecordingQueue()
        self._poller: asyncio.Task[None] | None = None
        self._webhook: WebhookServer | None = None
        self.bot_username: str | None = None
        self.dispatcher: Host | None = None
        self.application: Application = self._build(settings)  # type: ignore[type-arg]
        self.translator: Translator | None = None
        self.performer: TelegramPerformer | None = None

    def _build(self, settings: TelegramSettings) -> Application:  # type: ignore[type-arg]
        assert settings.token is not None
        timeout = settings.request_timeout
        transport = AiohttpRequest if settings.http_client == "aiohttp" else HTTPXRequest
        return (
            ApplicationBuilder()
            .token(settings.token.get_secret_value())
            .update_queue(self._queue)
            .base_url(settings.base_url)
            .base_file_url(settings.base_file_url)
            .request(
                transport(
                    connection_pool_size=CONNECTIONS,
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    pool_timeout=timeout,
                )
            )
            .get_updates_request(
                transport(read_timeout=settings.poll_timeout + timeout, connect_timeout=timeout)
            )
            .build()
        )

    async def start(self, dispatcher: Host) -> None:
        """Log in (``getMe``), then poll or open the webhook. Updates flow to the dispatcher."""
        self.dispatcher = dispatcher
        application = self.application
        application.add_handler(TypeHandler(Update, self._on_update))  # updates put by hand
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
        assert self.dispatcher is not None
        if self.settings.mode == "webhook":
            # Leftovers of an earlier run first; Telegram's posts wait for them to be queued.
            dispatcher = self.dispatcher
            await dispatcher.replay(self.platform)
            secret = (
                self.settings.secret_token.get_secret_value()
                if self.settings.secret_token
                else None
            )
            self._webhook = WebhookServer(
                self.settings.url_path,
                secret,
                self.receive_json,
                lambda: dispatcher.room(self.platform, self.max_pending),
            )
            await self._webhook.start(self.settings.listen, self.settings.port)
            await bot.set_webhook(
                url=self.settings.webhook_url,
                allowed_updates=ALLOWED_UPDATES,
                secret_token=secret,
            )
        else:
            # As PTB's polling start does: a webhook left set would refuse getUpdates.
            await application.bot.delete_webhook(drop_pending_updates=False)
            self._poller = asyncio.create_task(self._poll(), name="telegram getUpdates")

    async def _poll(self) -> None:
        """Replay what an earlier run left, then fetch, record, confirm; forever."""
        assert self.dispatcher is not None
        dispatcher = self.dispatcher
        bot = self.application.bot
        try:
            await dispatcher.replay(self.platform)
        except Exception:  # the database: those stay recorded for the next start
            log.exception("telegram: updates left by the last run could not be handled")
        offset: int | None = None
        backoff = 1.0
        while True:
            room = await dispatcher.room(self.platform, self.max_pending)
            try:
                # ``Bot.get_updates`` minus its ``Update.de_list``: a page's JSON, read here
                # update by update (``receive_json``): a plain message costs no
                # python-telegram-bot objects, and one update it cannot read is skipped
                # instead of refusing the whole page again and again.
                page = await bot._post(
                    "getUpdates",
                    {
                        "timeout": self.settings.poll_timeout,
                        "offset": offset,
                        "limit": min(100, room),
                        "allowed_updates": ALLOWED_UPDATES,
                    },
                    read_timeout=self.settings.poll_timeout + self.settings.request_timeout,
                )
                if type(page) is not list:
                    raise TelegramError("getUpdates answered something other than a list")
                ids = [
                    u["update_id"] for u in page if type(u) is dict and _whole(u.get("update_id"))
                ]
                if page:
                    await self.receive_json(page)  # recorded: the next offset confirms
                if ids:
                    offset = max(ids) + 1
                backoff = 1.0
            except (TelegramError, OSError, TimeoutError) as error:
                log.warning("telegram: getUpdates failed (%s); again in %.0f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except Exception:
                # The database refused the page: nothing was confirmed, Telegram keeps it.
                log.exception("telegram: a page of updates could not be recorded")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def receive(self, updates: list[Update]) -> None:
        """Translate updates and record them in one transaction (queued for handling);
        raises if they could not be recorded."""
        assert self.translator is not None and self.dispatcher is not None
        events: list[EventBase] = []
        for update in updates:
            events += self._translate(update)
        await self.dispatcher.intake(events)

    async def receive_json(self, page: list[object]) -> None:
        """A getUpdates page as Telegram sent it, recorded like ``receive``: a plain message
        translated straight from its JSON (``Translator.translate_json``), any other update
        built by python-telegram-bot first; one that cannot be read is logged and skipped."""
        assert self.translator is not None and self.dispatcher is not None
        translator, bot = self.translator, self.application.bot
        events: list[EventBase] = []
        for data in page:
            found = translator.translate_json(data)
            if found is None:
                try:
                    update = Update.de_json(data, bot)  # type: ignore[arg-type]
                except Exception as error:  # Telegram's side: no member typed this shape
                    number = data.get("update_id") if isinstance(data, dict) else None
                    log.warning(
                        "telegram: update %s could not be read (%s): skipped",
                        number,
                        type(error).__name__,
                    )
                    continue
                found = self._translate(update)
            events += found
        await self.dispatcher.intake(events)

    def _translate(self, update: Update) -> list[EventBase]:
        """The update's events; one that cannot be translated is logged and skipped (it must
        not hold up every update behind it)."""
        assert self.translator is not None
        if update.my_chat_member is not None and self.performer is not None:
            # The bot was promoted or demoted: its cached rights in that chat are stale.
            self.performer.forget(str(update.my_chat_member.chat.id))
        try:
            events = list(self.translator.translate(update))
        except Exception:
            log.exception("telegram: update %s could not be translated", update.update_id)
            return []
        for event in events:
            if isinstance(event, ChatMigrated) and self.performer is not None:
                self.performer.forget(event.chat.id)
        return events

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
        """Stop taking updates (shutdown drains what was taken, then calls ``stop``). A page
        being recorded is abandoned: unconfirmed, Telegram delivers it again."""
        self._queue.take = None
        webhook, self._webhook = self._webhook, None
        if webhook is not None:
            await webhook.stop()
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def stop(self) -> None:
        await self.stop_intake()
        application = self.application
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    async def _on_update(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """An update given to PTB's ``process_update`` by hand (polling and the webhook do
        not go through here): recorded like a page of one."""
        if isinstance(update, Update):
            await self.receive([update])

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: error while handling an update", exc_info=context.error)

    async def perform(self, action: Action) -> ActionResult:
        assert self.performer is not None, "start() the adapter first"
        return await self.performer.perform(action)

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        assert self.performer is not None, "start() the adapter first"
        return await self.performer.is_admin(chat_id, user_id)

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        assert self.performer is not None, "start() the adapter first"
        return await self.performer.chat_admins(chat_id)
