"""Log configuration: text or JSON lines, with personal data kept out.

``logging_config(settings)`` is a ``logging.config.dictConfig`` dictionary:
``serve`` hands it to granian, which applies it in every worker process, and
the other commands apply it themselves (``configure_logging``). Every handler
carries ``RedactingFilter``, a safety net that masks email addresses and IP
addresses in lines of other libraries (Dramatiq, for one, logs a failed
message with its arguments). Our own lines never carry a recipient address,
a body, a token or a client address in the first place.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import time
from typing import Any

from plugin.settings import Settings

__all__ = [
    "ACCESS_LOGGER",
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "logging_config",
    "logging_config_for",
    "redact_addresses",
]

ACCESS_LOGGER = "mailbeacon.access"

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
# Two or more hex groups joined by colons with a '::' or seven colons: IPv6, not a clock.
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"
)
# Fields of an access line, also written as JSON keys.
_ACCESS_FIELDS = ("method", "path", "status", "duration_ms")


def redact_addresses(text: str) -> str:
    """``text`` with email addresses and IP addresses replaced by placeholders."""
    text = _EMAIL.sub("<address>", text)
    text = _IPV4.sub("<ip>", text)
    return _IPV6.sub(lambda m: "<ip>" if "::" in m[0] or m[0].count(":") == 7 else m[0], text)


# Loggers whose lines carry no client or recipient data but do carry addresses an
# operator needs (granian's "Listening at: http://127.0.0.1:8000").
_NOT_REDACTED = (ACCESS_LOGGER, "_granian", "_granian.serve")


class RedactingFilter(logging.Filter):
    """Masks addresses in every record except lines of ``_NOT_REDACTED`` loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _NOT_REDACTED:
            return True
        message = record.getMessage()
        redacted = redact_addresses(message)
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback's last line repeats the exception's message: mask it too.
            record.exc_text = redact_addresses(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ access fields, traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def logging_config(settings: Settings, *, level: str = "INFO") -> dict[str, Any]:
    """The dictConfig of a mailbeacon process (also granian's own loggers)."""
    return logging_config_for(settings.log_format, access_log=settings.access_log, level=level)


def logging_config_for(
    log_format: str, *, access_log: bool, level: str = "INFO"
) -> dict[str, Any]:
    """``logging_config`` from the two settings alone (the benchmark writes it to a file)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "default",
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactingFilter"}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # granian's own lines go through ours (same format); its access log stays off.
            "_granian": {"handlers": ["default"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["default"], "level": "WARNING", "propagate": False},
            ACCESS_LOGGER: {
                "handlers": ["default"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
        },
    }


def configure_logging(settings: Settings) -> None:
    """Apply ``logging_config`` to this process."""
    logging.config.dictConfig(logging_config(settings))
