"""Prometheus metrics of calls turned into CRM data (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CRM_EVENTS = Counter(
    "cti_call_crm_events_total",
    "Call events handed to the CRM, by result",
    ["result"],  # applied, unchanged (nothing to write: no transaction), queued, dropped,
    # failed, fenced
)
CRM_RETRY_QUEUE = Gauge(
    "cti_call_crm_retry_queue", "Call events waiting for the database in the retry queue"
)
WEBHOOK_ATTEMPTS = Counter(
    "cti_webhook_attempts_total",
    "Webhook delivery attempts, by result",
    ["result"],  # delivered, retry, failed
)
