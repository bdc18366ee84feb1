"""The AMI wire protocol, pure: bytes in, messages out, and actions back to bytes."""

from cti.protocol.codec import AmiFrameDecoder, DecodeProblem, encode_action
from cti.protocol.link import LinkDown, LinkItem, LinkUp, PbxEvent
from cti.protocol.message import AmiMessage

__all__ = [
    "AmiFrameDecoder",
    "AmiMessage",
    "DecodeProblem",
    "LinkDown",
    "LinkItem",
    "LinkUp",
    "PbxEvent",
    "encode_action",
]
