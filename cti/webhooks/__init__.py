"""Outbound webhooks: call and deal events, HMAC-signed, retried with backoff, all recorded."""

from cti.webhooks.events import WebhookEvents, call_event_message
from cti.webhooks.sender import WebhookSender
from cti.webhooks.signing import sign, verify

__all__ = ["WebhookEvents", "WebhookSender", "call_event_message", "sign", "verify"]
