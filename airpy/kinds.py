"""Job kinds and queues: names the settings, the job system and the wire all use."""

from __future__ import annotations

from enum import StrEnum

# Queues, fastest work first. One worker process serves exactly one queue.
QUEUES = ("interactive", "batch")


class JobKind(StrEnum):
    DISCOVER = "discover"
    INFER_SCHEMA = "infer_schema"
    QUERY = "query"
    ANALYZE = "analyze"
    UPLOAD = "upload"
