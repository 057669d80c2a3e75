"""Logging: one JSON object per line (or readable text on a terminal), from server and workers.

Extra fields passed as `extra={...}` (request_id, token, method, duration_ms, status)
become JSON keys.
"""

from __future__ import annotations

import json
import logging
import sys
import time

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self._component = component

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "component": self._component,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s {component} %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        return base + ("  " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else "")


def configure(component: str, log_format: str = "auto", level: str = "INFO") -> None:
    """Send every log record to stderr in the chosen format."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(component) if use_json else TextFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("grpc._cython.cygrpc").addFilter(_quiet_cancelled_writes)
    # RQ installs its own handler on its loggers when a worker starts; route them through ours.
    for name in ("rq", "rq.worker", "rq.scheduler", "rq.queue", "rq.job"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _quiet_cancelled_writes(record: logging.LogRecord) -> bool:
    """Drop grpcio's error log of a stream message it could not send because the client had
    cancelled (grpc/grpc#32551): a caller stopping a FetchResult or WatchJob is normal, and the
    call is already logged as CANCELLED. Still shown when the log level is DEBUG."""
    if record.getMessage().startswith("ExecuteBatchError raised in core by servicer method"):
        return logging.getLogger().isEnabledFor(logging.DEBUG)
    return True
