"""Structured logs: one JSON object a line, carrying the call it belongs to."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

# Fields every line has that are never personal data: not worth masking.
PLAIN_FIELDS = frozenset({"timestamp", "level", "logger", "call_sid", "stream_sid"})


def mask_log_line(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    """Every string of every log line masked as the call's events are (voice/privacy.py):
    callers' phone numbers, card numbers and codes, whatever logged them (pipecat too)."""
    from voice.privacy import mask_value

    return mask_value(event, keep=PLAIN_FIELDS.__contains__)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,  # call_sid, stream_sid bound per call
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:  # log.exception's traceback as an "exception" string (the console renders its own)
        shared.append(structlog.processors.format_exc_info)
    shared.append(mask_log_line)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # one line per utterance
    _route_pipecat_logs()
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # weight-loading bars are noise in server logs
    except ImportError:
        pass


def _route_pipecat_logs() -> None:
    """pipecat logs through loguru; send its warnings and errors into the same stream."""
    from loguru import logger as loguru_logger

    pipecat_log = logging.getLogger("pipecat")

    def sink(message) -> None:
        record = message.record
        pipecat_log.log(record["level"].no, record["message"])

    loguru_logger.remove()
    loguru_logger.add(sink, level="WARNING", format="{message}")


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
