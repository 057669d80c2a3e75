"""Every Redis key airpy owns is built here (RQ's own keys are RQ's).

airpy:token                       counter, INCR gives the next token
airpy:fence                       counter written just before a WAIT for replicas (its value means nothing)
airpy:job:{token}                 hash, the job record (TTL = PY_JOB_TTL_S); `worker`: who ran it (operators only)
airpy:job:{token}:events          stream, ids "{seq}-0" (same TTL)
airpy:job:{token}:lease           string, renewed by the running attempt (TTL = PY_LEASE_S)
airpy:job:{token}:ops             hash op id -> seq, the answers of transitions already applied (same TTL)
airpy:jobs:all                    zset token -> created_ms, for the sweeper and counts
airpy:jobs:status:{status}        zset token -> created_ms, per status
airpy:jobs:subject:{subject}      zset token -> token, for ListJobs
airpy:jobs:queued:{subject}       zset token -> created_ms, the caller's queued jobs (cap)
airpy:stats:submitted             hash kind -> jobs created (metrics)
airpy:stats:ended                 hash "{kind}:{status}" -> jobs ended so (metrics)
airpy:stats:duration:{kind}       hash bucket bound -> jobs, "sum" -> seconds (metrics)
airpy:stats:flight:calls          hash "{method}:{code}" -> Flight calls ended so (metrics)
airpy:stats:flight:bytes          hash "sent" / "received" -> bytes of frames served and uploaded over Flight
airpy:flight:process:{name}       hash, a live Flight process: open_streams (TTL 30 s, renewed)
airpy:idem:{hash}                 string, "{token}:{fingerprint}" of a caller's idempotency key (TTL = PY_JOB_TTL_S)
airpy:qcache:{key}                string, token of the job holding the result for a dedupe key (TTL = PY_JOB_TTL_S)
airpy:qrun:{key}                  string, "{token}:{attempt}:" computing it now (TTL = the job's time limit)
"""

from __future__ import annotations

PREFIX = "airpy:"
TOKEN_COUNTER = f"{PREFIX}token"
FENCE = f"{PREFIX}fence"
ALL_JOBS = f"{PREFIX}jobs:all"
STATUS_INDEX_PREFIX = f"{PREFIX}jobs:status:"
STATS_SUBMITTED = f"{PREFIX}stats:submitted"
STATS_ENDED = f"{PREFIX}stats:ended"
FLIGHT_CALLS = f"{PREFIX}stats:flight:calls"
FLIGHT_BYTES = f"{PREFIX}stats:flight:bytes"
FLIGHT_PROCESS_PREFIX = f"{PREFIX}flight:process:"


def job(token: int) -> str:
    return f"{PREFIX}job:{token}"


def events(token: int) -> str:
    return f"{PREFIX}job:{token}:events"


def ops(token: int) -> str:
    return f"{PREFIX}job:{token}:ops"


def lease(token: int) -> str:
    return f"{PREFIX}job:{token}:lease"


def status_index(status: str) -> str:
    return f"{STATUS_INDEX_PREFIX}{status}"


def subject_index(subject: str) -> str:
    return f"{PREFIX}jobs:subject:{subject}"


def queued_index(subject: str) -> str:
    return f"{PREFIX}jobs:queued:{subject}"


def rq_job_id(token: int, attempt: int) -> str:
    """RQ's id for one attempt of a job: a retry is a new RQ job, so a stale one is recognisable."""
    return f"airpy-{token}-{attempt}"


def stats_duration(kind: str) -> str:
    return f"{PREFIX}stats:duration:{kind}"


def idempotency(key_hash: str) -> str:
    """The claim of a caller's idempotency key (`airpy.jobs.idempotency`)."""
    return f"{PREFIX}idem:{key_hash}"


def dedupe_done(key: str) -> str:
    """The job that holds the result of an identical-job key (`airpy.jobs.dedupe`)."""
    return f"{PREFIX}qcache:{key}"


def dedupe_running(key: str) -> str:
    """The attempt computing the result of an identical-job key now."""
    return f"{PREFIX}qrun:{key}"


def flight_process(name: str) -> str:
    """A live Flight process's open streams (`airpy.flight.calls`)."""
    return f"{FLIGHT_PROCESS_PREFIX}{name}"
