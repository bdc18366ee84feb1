"""structlog set-up: JSON lines in production, a readable console in development.

Secrets stay out at the root: the service's own loggers (``cti``, ``crmlite``) follow the
configured level, while third-party ones never go below INFO, because at DEBUG they print what
they carry (aiosqlite the rows it returns, SQLAlchemy result rows, panoramisk raw AMI traffic
with the login secret). Every line then passes ``cti.redaction.redact_secrets``.
"""

from __future__ import annotations

import gc
import logging
import sys

import structlog

from cti.redaction import redact_secrets

# The loggers whose DEBUG lines are ours to keep free of secrets.
OWN_LOGGERS = ("cti", "crmlite")


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the stdlib loggers (aiohttp, alembic) through one renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # stdlib records' tracebacks, to redact
                redact_secrets,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = logging.getLevelName(level)
    root.setLevel(max(numeric, logging.INFO))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(numeric)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def settle_memory() -> None:
    """After start-up: hide what start-up allocated from the collector, and collect less often.

    A full collection over a large young heap paused pops for hundreds of milliseconds under load;
    start-up objects (modules, tables, configuration) live for the whole run anyway.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
