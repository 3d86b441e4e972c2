"""Which servers one ``discord.Client`` talks to, chosen for that client alone.

discord.py keeps its REST base (``discord.http.Route.BASE``) and gateway
(``DiscordWebSocket.DEFAULT_GATEWAY``) in class attributes: setting them points every client in
the process somewhere else, so two adapters (a test, one rate-limit proxy per bot) would steer
each other. ``route_client`` leaves them alone and swaps the URLs in the client's own aiohttp
session instead, the one place discord.py's traffic for that client passes: its REST calls
(retries, rate-limit buckets and file uploads included, since the route's path is unchanged),
interaction callbacks and webhooks (``Interaction`` sends them through ``client.http``'s session
with ``Route.BASE`` URLs), and every gateway connection (``HTTPClient.ws_connect``), reconnects
included. A RESUME goes where Discord's READY said (``resume_gateway_url``), as it always did.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl

__all__ = ["RoutedHTTPClient", "RoutedSession", "route_client"]


class RoutedSession:
    """A client's aiohttp session whose requests to discord.py's built-in REST base and gateway
    go to this client's instead (every other URL, e.g. the CDN, is left as it is)."""

    def __init__(
        self, session: aiohttp.ClientSession, api_base: str, gateway_url: yarl.URL | None
    ) -> None:
        self.session = session
        self.api_base = api_base.rstrip("/")
        self.gateway_url = gateway_url

    def rest_url(self, url: str | yarl.URL) -> str:
        """``url`` on this client's API base if discord.py built it on its own."""
        text, default = str(url), discord.http.Route.BASE  # read now: what Route just used
        if text == default or text.startswith(default + "/"):
            return self.api_base + text[len(default) :]
        return text

    def websocket_url(self, url: str | yarl.URL) -> str:
        """``url`` on this client's gateway if it is Discord's main one (discord.py's default,
        also what ``/gateway/bot`` names); the query (version, encoding, compression) is kept.
        A resume URL from READY is left alone."""
        parsed = yarl.URL(url)
        default = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        if self.gateway_url is None or parsed.with_query(None) != default:
            return str(url)
        return str(self.gateway_url.with_query(parsed.query))

    def request(self, method: str, url: str | yarl.URL, **kwargs: Any) -> Any:
        return self.session.request(method, self.rest_url(url), **kwargs)

    def ws_connect(self, url: str | yarl.URL, **kwargs: Any) -> Any:
        return self.session.ws_connect(self.websocket_url(url), **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Everything else (``close``, ``closed``, ``get`` for the CDN) is the session's."""
        return getattr(self.session, name)


class RoutedHTTPClient(discord.http.HTTPClient):
    """discord.py's HTTP client whose session, once ``static_login`` makes it, is routed.

    ``HTTPClient`` keeps the session in the name-mangled ``__session`` (``_HTTPClient__session``,
    which discord.py's interactions and webhooks read too); a property of that name here wraps
    whatever session discord.py stores, so all of its readers get the routed one.
    """

    def __init__(self, *args: Any, api_base: str, gateway_url: str | None, **kwargs: Any) -> None:
        self.api_base = api_base
        self.gateway_url = yarl.URL(gateway_url) if gateway_url else None
        self._routed: Any = discord.utils.MISSING
        super().__init__(*args, **kwargs)

    def _get_session(self) -> Any:
        return self._routed

    def _set_session(self, session: Any) -> None:
        if isinstance(session, aiohttp.ClientSession):
            session = RoutedSession(session, self.api_base, self.gateway_url)
        self._routed = session

    _HTTPClient__session = property(_get_session, _set_session)


def route_client(
    client: discord.Client, api_base: str, gateway_url: str | None = None
) -> RoutedHTTPClient:
    """Send this client's REST calls to ``api_base`` and, when given, its gateway connections to
    ``gateway_url``; discord.py's globals and other clients are untouched.

    Call it right after making the client: before login, and before anything keeps the client's
    HTTP client (an ``app_commands.CommandTree`` does when it is made).
    """
    old = client.http
    if old.token is not None:
        raise RuntimeError("route_client() must be called before the client logs in")
    routed = RoutedHTTPClient(
        old.loop,
        old.connector,
        proxy=old.proxy,
        proxy_auth=old.proxy_auth,
        unsync_clock=not old.use_clock,
        http_trace=old.http_trace,
        max_ratelimit_timeout=old.max_ratelimit_timeout,
        api_base=api_base,
        gateway_url=gateway_url,
    )
    # The client and its connection state each hold the HTTP client (discord.py sets both in
    # ``Client.__init__``); everything made later reaches it through one of them.
    client.http = routed
    client._connection.http = routed
    return routed
