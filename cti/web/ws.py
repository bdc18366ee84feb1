"""``/ws``: the screen-pop websocket.

Authenticated by the session cookie (or an ``Authorization: Bearer`` header from scripts) at the
upgrade, or by an API token sent in the FIRST message: ``{"type": "auth", "token": "..."}``. Never
in the query string, where it would leak into access logs. An unauthenticated socket is closed at
once with code 4401; so is one that offers a scoped token (a PBX's route-lookup token) or a
token bound to other addresses. The Origin header must be an allowed origin (or the same host when
none are configured), else the upgrade is refused with 403.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import WSMsgType, web
from sqlalchemy.exc import SQLAlchemyError

from crmlite.domain.principal import Principal
from crmlite.web.errors import HttpProblem
from crmlite.web.security import credentials, token_credentials
from cti.pops.fanout import FanoutUnavailable
from cti.pops.hub import PopConnection, ScreenPopHub
from cti.pops.messages import PONG

log = structlog.get_logger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_MESSAGE = 4400
CLOSE_TRY_AGAIN = 1013  # the fan-out backend is away: reconnect in a moment


@dataclass(frozen=True, slots=True)
class WsConfig:
    """Origins allowed to open the socket (empty: same host), heartbeat and auth deadline."""

    allowed_origins: tuple[str, ...] = ()
    heartbeat_s: float = 25.0
    auth_timeout_s: float = 5.0


POP_HUB = web.AppKey("pop_hub", ScreenPopHub)
WS_CONFIG = web.AppKey("ws_config", WsConfig)


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """True when a browser at ``origin`` may open the socket served at ``host``."""
    if origin is None:
        return True  # not a browser (browsers always send Origin on a websocket upgrade)
    origin = origin.rstrip("/")
    if allowed:
        return origin in {o.rstrip("/") for o in allowed}
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == (host or "").lower()


async def pops_socket(request: web.Request) -> web.StreamResponse:
    """Upgrade, authenticate, then stream the user's pops until either side closes."""
    config = request.app[WS_CONFIG]
    if "token" in request.query or "access_token" in request.query:
        raise HttpProblem(
            400,
            "token-in-url",
            "API tokens are not accepted in the URL",
            'send {"type": "auth", "token": "..."} as the first message instead',
        )
    if not origin_allowed(request.headers.get("Origin"), request.host, config.allowed_origins):
        raise HttpProblem(
            403, "origin-not-allowed", "this origin may not open the pop socket", "check Origin"
        )
    found = credentials(request)
    ws = web.WebSocketResponse(heartbeat=config.heartbeat_s, max_msg_size=64 * 1024)
    await ws.prepare(request)
    try:
        who = found.principal if found is not None else await _first_message_auth(request, ws)
    except SQLAlchemyError as err:
        # The token could not be checked (database locked or away): let the tab retry.
        log.warning("pops_auth_unavailable", error=type(err).__name__)
        await ws.close(code=CLOSE_TRY_AGAIN, message=b"try again")
        return ws
    if who is None or who.user_id is None:
        await ws.close(code=CLOSE_UNAUTHENTICATED, message=b"unauthenticated")
        return ws
    hub = request.app[POP_HUB]
    try:
        connection = await hub.attach(who.user_id, BrowserSocket(ws, request))
    except FanoutUnavailable as err:
        log.warning("pops_state_unavailable", user=who.login, error=str(err))
        await ws.close(code=CLOSE_TRY_AGAIN, message=b"state unavailable, reconnect")
        return ws
    log.info("pops_socket_open", user=who.login, connection=connection.id)
    try:
        await _read(ws, hub, connection)
    finally:
        hub.detach(connection)
        log.info("pops_socket_closed", user=who.login, reason=connection.close_reason)
    return ws


class BrowserSocket:
    """The hub's view of one browser websocket: send, close, and abort when it stopped reading."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self._ws = ws
        self._transport = request.transport

    @property
    def closed(self) -> bool:
        return self._ws.closed

    async def send_str(self, data: str, compress: int | None = None) -> None:
        await self._ws.send_str(data, compress)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        return await self._ws.close(code=code, message=message, drain=drain)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


async def _first_message_auth(request: web.Request, ws: web.WebSocketResponse) -> Principal | None:
    """Read ``{"type": "auth", "token": ...}`` within the deadline; None on anything else."""
    try:
        message = await ws.receive(timeout=request.app[WS_CONFIG].auth_timeout_s)
    except TimeoutError:
        return None
    if message.type is not WSMsgType.TEXT:
        return None
    try:
        data: Any = json.loads(message.data)
    except json.JSONDecodeError:
        return None
    token = data.get("token") if isinstance(data, dict) and data.get("type") == "auth" else None
    if not isinstance(token, str) or not token:
        return None
    try:
        found = await token_credentials(request, token)
    except HttpProblem:
        return None  # a scoped token, or one bound to other addresses: never a pop socket
    return found.principal if found is not None else None


async def _read(ws: web.WebSocketResponse, hub: ScreenPopHub, connection: PopConnection) -> None:
    """Answer the browser's pings; everything else a browser may send is ignored but logged."""
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            continue
        try:
            data: Any = json.loads(message.data)
        except json.JSONDecodeError:
            await ws.close(code=CLOSE_BAD_MESSAGE, message=b"messages must be JSON")
            return
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "ping":
            connection.offer(hub.encoder.encode(PONG, {"echo": data.get("echo")}))
        elif kind == "auth":
            continue  # a tab that re-sends its token on an authenticated socket
        else:
            log.info("pops_socket_unknown_message", kind=str(kind)[:40])


def ws_routes() -> list[web.RouteDef]:
    """The websocket route."""
    return [web.get("/ws", pops_socket)]
