"""The AMI adapter: the only package that speaks panoramisk."""

from cti.ami.client import AmiClient
from cti.ami.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiConnectionLost,
    AmiError,
    AmiLoginFailed,
    AmiNotConnected,
)
from cti.ami.fleet import AmiFleet
from cti.ami.originate import OriginateResult
from cti.ami.state import ClientState

__all__ = [
    "AmiActionFailed",
    "AmiActionTimeout",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiFleet",
    "AmiLoginFailed",
    "AmiNotConnected",
    "ClientState",
    "OriginateResult",
]
