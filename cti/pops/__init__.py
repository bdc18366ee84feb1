"""Screen pops: cards on the seller's screen while their phone rings, following the call.

``PopService`` turns call events into per-user messages (the call flow's fast sink and outcome
sink); ``ScreenPopHub`` holds the local websockets, one bounded queue and writer per socket; a
``FanoutBackend`` (``InProcessFanout`` or ``RedisFanout``) carries messages and live cards between
instances. The websocket and HTTP edges live in ``cti.web`` (``ws``, ``calls``, ``wrapups``).
"""

from cti.pops.fanout import FanoutBackend, FanoutUnavailable, InProcessFanout, LiveChange
from cti.pops.hub import HubLimits, PopConnection, PopSocket, ScreenPopHub
from cti.pops.redis_fanout import RedisFanout
from cti.pops.service import PopService, PopSettings

__all__ = [
    "FanoutBackend",
    "FanoutUnavailable",
    "HubLimits",
    "InProcessFanout",
    "LiveChange",
    "PopConnection",
    "PopService",
    "PopSettings",
    "PopSocket",
    "RedisFanout",
    "ScreenPopHub",
]
