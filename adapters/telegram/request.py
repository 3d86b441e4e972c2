"""python-telegram-bot's HTTP transport on aiohttp instead of httpx.

Why: with many answers in flight, httpx/httpcore's pool bookkeeping
(``_assign_requests_to_connections``) costs the bot more CPU per Bot API call than the call's
own work, so 1,000 button answers at once queue behind it. aiohttp's connector does the same
job for a fraction of that (see README, ``bench.grab --telegram``).

``telegram.request.BaseRequest`` is PTB's documented extension point. Errors are mapped as
``HTTPXRequest`` maps them, and the text of a ``NetworkError`` names the aiohttp error class
(``aiohttp.ClientConnectorError: ...``), so the performer can still tell a connection that
was never made (safe to retry) from one lost after the request went out (``Unsure``).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

#: The ``NetworkError`` prefix of a connection that was never made: nothing reached Telegram.
NOT_CONNECTED = "aiohttp.ClientConnectorError"


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` over one ``aiohttp.ClientSession`` with at most ``connection_pool_size``
    connections. Proxies come from ``HTTP(S)_PROXY``/``NO_PROXY`` as aiohttp's ``trust_env``
    reads them, but once per host and session (as httpx reads them once per client):
    ``trust_env`` would ask two worker threads (netrc, proxy) on every call.

    Timeouts: ``connect_timeout`` bounds making the connection, ``pool_timeout`` is added to it
    (aiohttp counts waiting for a free connection as part of connecting), ``read_timeout``
    bounds each wait for the answer's bytes once the request is written. aiohttp has no write
    timeout of its own, so the whole request is also bounded by the sum of all four (with
    ``media_write_timeout`` as the write part of an upload, as ``HTTPXRequest`` does)."""

    def __init__(
        self,
        connection_pool_size: int = 1,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds it to ``getUpdates``' long-poll timeout)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (it must be made inside the running event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0),
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none
                headers={"User-Agent": self.USER_AGENT},
            )
            self._proxies = {}  # the environment is read again by a new session

    async def shutdown(self) -> None:
        """Close the session and its connections; a second call does nothing."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one Bot API request; the answer's status and body, whatever the status."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        body = _body(request_data)
        write = write_timeout
        if isinstance(write, DefaultValue):
            uploads = isinstance(body, aiohttp.FormData)
            write = self._media_write_timeout if uploads else self._write_timeout
        waiting = None if connect is None or pool is None else connect + pool
        total = None if waiting is None or read is None or write is None else waiting + write + read
        timeout = aiohttp.ClientTimeout(
            total=total, connect=waiting, sock_connect=connect, sock_read=read
        )
        try:
            proxy, proxy_auth = self._proxy_for(URL(url))
            async with self._session.request(
                method, url, data=body, timeout=timeout, proxy=proxy, proxy_auth=proxy_auth
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            if isinstance(error, aiohttp.ConnectionTimeoutError):
                raise TimedOut(
                    "Connect timeout: no connection was made (or none was free in the pool). "
                    "Request was *not* sent to Telegram."
                ) from error
            raise TimedOut from error
        except aiohttp.ClientError as error:
            name = (
                "ClientConnectorError"
                if isinstance(error, aiohttp.ClientConnectorError)
                else type(error).__name__
            )
            raise NetworkError(f"aiohttp.{name}: {error}") from error

    def _proxy_for(self, url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy (and its credentials) the environment names for ``url``'s host, if any."""
        origin = (url.scheme, url.host or "")
        if origin not in self._proxies:
            try:
                self._proxies[origin] = get_env_proxy_for_url(url)
            except LookupError:  # none, or the host is in NO_PROXY
                self._proxies[origin] = (None, None)
        return self._proxies[origin]


def _body(request_data: RequestData | None) -> Any:
    """The form (url-encoded) or, with files, the multipart body of a request, as httpx
    builds it for PTB: parameters as text fields, files as named parts."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    files = request_data.multipart_data
    if not files:
        return fields or None
    form = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
