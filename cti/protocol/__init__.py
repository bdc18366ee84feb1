"""The AMI wire protocol, pure: bytes in, messages out, and actions back to bytes."""

from cti.protocol.codec import AmiFrameDecoder, DecodeProblem, encode_action
from cti.protocol.link import LinkDown, LinkItem, LinkUp, PbxEvent
from cti.protocol.message import AmiMessage
from cti.protocol.skip import RECORDING_VARIABLES, EventSkip

__all__ = [
    "RECORDING_VARIABLES",
    "AmiFrameDecoder",
    "AmiMessage",
    "DecodeProblem",
    "EventSkip",
    "LinkDown",
    "LinkItem",
    "LinkUp",
    "PbxEvent",
    "encode_action",
]
