"""The job system as one value, built the same way by the server and by every worker.

`build_core(settings)` connects to Redis and opens the dispatcher (RQ), the lifecycle, the
results store and the de-duplication of identical jobs. Only the server issues tokens (it
passes `tokens=True`; in embedded mode with the high-water mark file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis

from airpy import objectstore
from airpy.config import Settings
from airpy.jobs.connection import connect
from airpy.jobs.dedupe import Dedupe
from airpy.jobs.lifecycle import Lifecycle, Timing
from airpy.jobs.queueing import Dispatcher
from airpy.jobs.tokens import HighWaterMark, TokenIssuer
from airpy.results.store import ResultsStore, open_results

#: What every RQ job of airpy calls. RQ stores this import path in each queued job, so it must
#: stay importable across upgrades (jobs queued before a rolling upgrade still run).
TASK = "airpy.tasks.run"


@dataclass(frozen=True)
class Core:
    settings: Settings
    conn: redis.Redis
    lifecycle: Lifecycle
    results: ResultsStore
    dedupe: Dedupe
    #: The server's token issuer (None in workers, which never issue tokens).
    tokens: TokenIssuer | None = None

    @property
    def dispatcher(self) -> Dispatcher:
        return self.lifecycle.dispatcher


def build_core(settings: Settings, *, tokens: bool = False, token_mark: Path | None = None) -> Core:
    """The job system of `settings.redis_target` (REDIS_URL, the sentinels, or the embedded Redis
    `airpy serve` started)."""
    conn = connect(settings.redis_target)
    issuer = TokenIssuer(conn, HighWaterMark(token_mark) if token_mark else None) if tokens else None
    dispatcher = Dispatcher(conn, TASK, failure_ttl_s=settings.job_ttl_s, grace_s=settings.cancel_grace_s)
    timing = Timing(
        lease_s=settings.lease_s,
        ttl_s=settings.job_ttl_s,
        replicas=settings.min_replicas,
        replica_wait_ms=settings.redis_wait_ms,
    )
    lifecycle = Lifecycle(conn, dispatcher, timing, issuer)
    if settings.uses_object_store:
        objectstore.configure(settings.s3_endpoint, settings.s3_region)
    results = open_results(settings.results_path, settings.spool_dir, settings.frame_part_bytes)
    return Core(settings, conn, lifecycle, results, Dedupe(lifecycle, results, settings.job_ttl_s), issuer)
