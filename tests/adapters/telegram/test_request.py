"""``AiohttpRequest``, python-telegram-bot's transport on aiohttp: its real failures map to the
errors PTB's own httpx transport raises, so the performer still tells a send that may have
arrived (``Unsure``, never repeated) from one that never left (``Transient``, retried); uploads
arrive intact; proxies come from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.perform import TelegramPerformer
from adapters.telegram.request import AiohttpRequest
from adapters.telegram.translate import Translator
from bot.actions import Reply
from bot.config import TelegramSettings
from bot.governor import Transient, Unsure
from bot.richtext import RichText
from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import BOT_ID, GROUP, TOKEN, free_port

ME = {"id": BOT_ID, "is_bot": True, "first_name": "Qunbot", "username": "qunbot_bot"}
SENT = {"message_id": 1, "date": 0, "chat": {"id": GROUP, "type": "supergroup"}, "text": "x"}


class StubAPI:
    """A bare HTTP/1.1 server: answers ``getMe`` (and, as a proxy, anything), and does to
    ``sendMessage`` what ``on_send`` says: "drop" the connection once the request is read,
    "hang" without answering, or "answer". Records each request line."""

    def __init__(self, on_send: str = "answer") -> None:
        self.on_send = on_send
        self.lines: list[str] = []
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.send_arrived = asyncio.Event()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line, *headers = head.split("\r\n")
                length = next(
                    (
                        int(h.split(":")[1])
                        for h in headers
                        if h.lower().startswith("content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.lines.append(line)
                if "sendMessage" in line:
                    self.send_arrived.set()
                if "sendMessage" in line and self.on_send != "answer":
                    if self.on_send == "hang":
                        await asyncio.Event().wait()
                    break  # "drop": the request arrived, no answer ever comes
                result = SENT if "sendMessage" in line else ME
                body = json.dumps({"ok": True, "result": result}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        writer.close()

    async def __aenter__(self) -> StubAPI:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


@contextlib.asynccontextmanager
async def performer_on(stub: StubAPI, **timeouts: Any) -> AsyncIterator[TelegramPerformer]:
    bot = Bot(
        TOKEN,
        base_url=f"http://127.0.0.1:{stub.port}/bot",
        request=AiohttpRequest(connection_pool_size=1, **timeouts),
    )
    await bot.initialize()
    try:
        yield TelegramPerformer(bot, Translator(bot.id, bot.username))
    finally:
        await bot.shutdown()


def reply() -> Reply:
    return Reply(platform="telegram", chat_id=str(GROUP), text=RichText.of("once"))


async def test_a_connection_lost_after_the_send_left_is_unsure() -> None:
    async with StubAPI(on_send="drop") as stub, performer_on(stub) as perform:
        with pytest.raises(Unsure, match=r"aiohttp\.ServerDisconnectedError"):
            await perform.perform(reply())
    assert sum("sendMessage" in line for line in stub.lines) == 1


async def test_a_read_timeout_is_timed_out_and_unsure() -> None:
    async with StubAPI(on_send="hang") as stub, performer_on(stub, read_timeout=0.3) as perform:
        with pytest.raises(Unsure) as caught:
            await perform.perform(reply())
    assert isinstance(caught.value.__cause__, TimedOut)


async def test_no_free_connection_is_timed_out_and_never_sent() -> None:
    """Pool of one, held by a hanging send: the next send times out waiting for a connection
    (nothing left, so the governor may retry it)."""
    async with (
        StubAPI(on_send="hang") as stub,
        performer_on(stub, read_timeout=5, connect_timeout=0.1, pool_timeout=0.1) as perform,
    ):
        held = asyncio.create_task(perform.perform(reply()))
        await asyncio.wait_for(stub.send_arrived.wait(), 5)
        with pytest.raises(Transient) as caught:
            await perform.perform(reply())
        assert isinstance(caught.value.__cause__, TimedOut)
        held.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await held
    assert sum("sendMessage" in line for line in stub.lines) == 1


async def test_a_refused_connection_is_a_network_error_and_never_sent() -> None:
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot", request=request)
    await request.initialize()  # no getMe: nothing listens there
    try:
        with pytest.raises(Transient) as caught:
            await TelegramPerformer(bot, Translator(BOT_ID, "qunbot_bot")).perform(reply())
    finally:
        await request.shutdown()
    assert isinstance(caught.value.__cause__, NetworkError)
    assert str(caught.value.__cause__).startswith("aiohttp.ClientConnectorError")


async def test_refused_and_timed_out_requests_raise_ptb_errors() -> None:
    request = AiohttpRequest(read_timeout=0.3)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match=r"^aiohttp\.ClientConnectorError"):
            await request.post(f"http://127.0.0.1:{free_port()}/bot{TOKEN}/getMe")
        async with StubAPI(on_send="hang") as stub:
            with pytest.raises(TimedOut):
                await request.post(f"http://127.0.0.1:{stub.port}/bot{TOKEN}/sendMessage")
    finally:
        await request.shutdown()
        await request.shutdown()  # twice is harmless
    with pytest.raises(RuntimeError):
        await request.do_request("http://127.0.0.1:1/", "POST")


async def test_a_multipart_upload_arrives_intact(fake: tg.FakeBotAPI) -> None:
    content = bytes(range(256)) * 1000 + "ünïcode\r\n--boundary?".encode()
    bot = Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest())
    await bot.initialize()
    try:
        sent = await bot.send_document(
            GROUP, document=content, filename="data 1.bin", caption="é & <b>x</b>"
        )
    finally:
        await bot.shutdown()
    assert sent.chat.id == GROUP
    [call] = fake.calls_to("sendDocument")
    upload = call.raw["document"]
    assert upload["sha256"] == hashlib.sha256(content).hexdigest()
    assert upload["size"] == len(content) and upload["filename"] == "data 1.bin"
    assert call.raw["caption"] == "é & <b>x</b>" and call.raw["chat_id"] == str(GROUP)


async def test_proxy_from_the_environment(
    fake: tg.FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTP_PROXY`` carries the call (the proxy sees the absolute URL); a host in
    ``NO_PROXY`` is reached directly."""
    async with StubAPI() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        far = Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=AiohttpRequest())
        await far.initialize()
        await far.shutdown()
        near = Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest())
        await near.initialize()
        await near.shutdown()
    assert proxy.lines == [f"POST http://api.telegram.invalid/bot{TOKEN}/getMe HTTP/1.1"]
    assert far.username == "qunbot_bot" and near.id == BOT_ID
    assert len(fake.calls_to("getMe")) == 1


@pytest.mark.parametrize(("name", "kind"), [("aiohttp", AiohttpRequest), ("httpx", HTTPXRequest)])
def test_the_adapter_uses_the_configured_client(name: str, kind: type) -> None:
    settings = TelegramSettings(token=TOKEN, http_client=name, request_timeout=7, poll_timeout=3)
    bot = TelegramAdapter(settings).application.bot
    calls, updates = bot.request, bot._request[0]  # type: ignore[attr-defined]
    assert type(calls) is kind and type(updates) is kind
    assert calls.read_timeout == 7 and updates.read_timeout == 10
