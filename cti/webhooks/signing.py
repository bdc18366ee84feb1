"""HMAC-SHA256 signatures of webhook bodies (the receiver checks them with ``verify``)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-CTI-Signature"
TIMESTAMP_HEADER = "X-CTI-Timestamp"
EVENT_HEADER = "X-CTI-Event"
DELIVERY_HEADER = "X-CTI-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, timestamp: int, body: bytes, signature: str, *, now: int, tolerance_s: int = 300
) -> bool:
    """True when ``signature`` matches and the timestamp is recent (stops replays)."""
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
