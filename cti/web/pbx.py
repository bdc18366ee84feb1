"""``GET /api/v1/pbx``: the PBX links of this instance and their health (the admin screen).

With several instances (PostgreSQL) it also shows which instance consumes each PBX, whether that
instance is alive, and the live status it last reported (``cti.lease_spread``), whichever
instance the load balancer asked.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

from crmlite.domain.errors import PermissionDenied
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel
from crmlite.web.security import principal
from cti.lease_spread import PbxConsumer, roster
from cti.telephony import TELEPHONY

log = structlog.get_logger(__name__)
routes = ApiRoutes("pbx", "PBX connections")


class PbxLinkOut(ApiModel):
    name: str
    host: str
    port: int
    tls: bool
    connected: bool = Field(description="logged in to the PBX's AMI right now")
    consuming: bool = Field(description="this instance consumes the PBX's events (holds its lease)")
    lease_epoch: int | None = Field(
        None, description="the fencing epoch of the lease this instance holds (PostgreSQL)"
    )
    since: float | None = Field(description="when the current connection came up, epoch seconds")
    last_error: str | None = Field(description="why the last connection ended (never a secret)")
    events: int
    dropped: int
    connects: int
    resyncs: int
    live_calls: int


class PbxConsumerOut(ApiModel):
    pbx: str
    instance: str = Field(description="the instance holding the PBX's consumer lease")
    this_instance: bool = Field(description="the instance that answered is the consumer")
    epoch: int | None = Field(description="the lease's fencing epoch (PostgreSQL)")
    held: bool = Field(description="the lease has not run out")
    alive: bool = Field(description="the consumer reported itself alive within a lease deadline")
    connected: bool | None = Field(description="the consumer's AMI link is up, as it reported")
    live_calls: int | None = Field(description="calls live on the PBX, as the consumer reported")
    events: int | None = Field(description="AMI events the consumer read since it connected")


class PbxLinksOut(ApiModel):
    items: list[PbxLinkOut]
    instance: str | None = Field(description="this instance's id (PostgreSQL); null: the only one")
    consumers: list[PbxConsumerOut] = Field(description="which instance consumes each PBX")


@routes.get("/api/v1/pbx", response=PbxLinksOut, errors={403: "heads and admins only"})
async def pbx_links(request: web.Request) -> PbxLinksOut:
    """PBX links of this instance, their health, and which instance consumes each PBX."""
    if not principal(request).sees_everything:
        raise PermissionDenied("only heads of sales and admins see the PBX links")
    telephony = request.app.get(TELEPHONY)
    links = telephony.status() if telephony is not None else []
    keeper = telephony.keeper if telephony is not None else None
    if keeper is None:
        consumers = [_local(link) for link in links if link["consuming"]]
        return PbxLinksOut(items=_items(links), instance=None, consumers=consumers)
    try:
        found = await roster(keeper.engine, keeper.timings.deadline_s)
    except (SQLAlchemyError, OSError, TimeoutError) as err:
        log.warning("pbx consumers unknown", error=repr(err))
        found = []
    return PbxLinksOut(
        items=_items(links),
        instance=keeper.holder,
        consumers=[_consumer(c, keeper.holder) for c in found],
    )


def _items(links: list[dict[str, object]]) -> list[PbxLinkOut]:
    return [PbxLinkOut.model_validate(link) for link in links]


def _local(link: dict[str, object]) -> PbxConsumerOut:
    return PbxConsumerOut.model_validate(
        {
            "pbx": link["name"],
            "instance": "this instance",
            "this_instance": True,
            "epoch": None,
            "held": True,
            "alive": True,
            "connected": link["connected"],
            "live_calls": link["live_calls"],
            "events": link["events"],
        }
    )


def _consumer(consumer: PbxConsumer, me: str) -> PbxConsumerOut:
    status = consumer.status or {}
    return PbxConsumerOut(
        pbx=consumer.pbx,
        instance=consumer.holder,
        this_instance=consumer.holder == me,
        epoch=consumer.epoch,
        held=consumer.held,
        alive=consumer.alive,
        connected=_flag(status.get("connected")),
        live_calls=_count(status.get("live_calls")),
        events=_count(status.get("events")),
    )


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
