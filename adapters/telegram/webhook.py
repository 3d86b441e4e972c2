"""The webhook's own HTTP server (aiohttp): Telegram posts each update to ``url_path``, and
the answer waits until the update is recorded (``TelegramAdapter.receive_json``): 200 once it
is, 500 when it could not be (Telegram sends it again), 403 without the configured secret, 400
for a body that is not JSON.

python-telegram-bot's own webhook server builds an ``Update`` of every post before qunbot sees
it; this one hands the JSON over as the getUpdates loop does, so a plain message costs no
python-telegram-bot objects (``Translator.translate_json``) whichever way updates arrive.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["SECRET_HEADER", "WebhookServer"]

log = logging.getLogger(__name__)

#: The header Telegram sends the webhook's secret token in.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    """Listens on ``host:port`` for posts to ``path``; ``take`` records a list of updates'
    JSON (raising when it could not), ``room`` waits while too many are unhandled."""

    def __init__(
        self,
        path: str,
        secret: str | None,
        take: Callable[[list[object]], Awaitable[None]],
        room: Callable[[], Awaitable[object]],
    ) -> None:
        self.path = path if path.startswith("/") else f"/{path}"
        self._secret = secret.encode() if secret else None
        self._take = take
        self._room = room
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen; an address in use (or not allowed) raises ``OSError``."""
        app = web.Application()
        app.router.add_post(self.path, self._post)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening; posts being answered are finished first (aiohttp's shutdown)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        if self._secret is not None and not hmac.compare_digest(
            request.headers.get(SECRET_HEADER, "").encode(), self._secret
        ):
            return web.Response(status=403, text="the secret token is missing or wrong")
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="the body is not JSON")
        # Backpressure: Telegram waits for the answer (and sends no more meanwhile than its
        # connection limit) while ``max_pending`` updates are unhandled.
        await self._room()
        try:
            await self._take([data])
        except Exception:
            log.exception(
                "telegram: a posted update could not be recorded (Telegram sends it again)"
            )
            return web.Response(status=500)
        return web.Response(status=200)
