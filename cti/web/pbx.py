"""``GET /api/v1/pbx``: the PBX links of this instance and their health (the admin screen)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from crmlite.domain.errors import PermissionDenied
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel
from crmlite.web.security import principal
from cti.telephony import TELEPHONY

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


class PbxLinksOut(ApiModel):
    items: list[PbxLinkOut]


@routes.get("/api/v1/pbx", response=PbxLinksOut, errors={403: "heads and admins only"})
async def pbx_links(request: web.Request) -> PbxLinksOut:
    """PBX links of this instance and their health."""
    if not principal(request).sees_everything:
        raise PermissionDenied("only heads of sales and admins see the PBX links")
    telephony = request.app.get(TELEPHONY)
    links = telephony.status() if telephony is not None else []
    return PbxLinksOut(items=[PbxLinkOut.model_validate(link) for link in links])
