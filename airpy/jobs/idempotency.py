"""Idempotent job submission: a caller's `idempotency_key` names one job for PY_JOB_TTL_S.

A retried call (a lost reply, a deadline, a connection reset, a restarted server) carries the
same key and gets the same token and job, also while the first call is still in flight. The
key is the caller's own: it is stored under a hash of the caller (JWT subject and path
prefixes) and the key, with the token it names and a fingerprint of the request, so the same
key with another request body is refused instead of answered with the wrong job.

The claim is made after the token is issued and before the record exists: of concurrent
duplicates one claims, the others wait for its record (a token issued and lost that way is a
gap in the sequence, never a reuse). A first call that fails before its job is acknowledged
releases its claim, so its retry starts the job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import redis

from airpy.errors import UnavailableError, ValidationError
from airpy.jobs import keys
from airpy.jobs.connection import redis_errors
from airpy.owners import Owner

MAX_KEY_CHARS = 128
_KEY = re.compile(r"^[A-Za-z0-9._:~+/=-]+$")
#: How long a duplicate waits for the record of the call that claimed its key.
WAIT_S = 10.0
# The life of a claim whose job is not confirmed yet.
_PENDING_TTL_S = int(2 * WAIT_S)

# GET the claim, or SET it when absent: {value, claimed}.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v then return {v, 0} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {ARGV[1], 1}
"""
# DEL the claim only when it is still this call's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Give the claim its full life once its job is confirmed (still this call's).
_KEEP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


@dataclass(frozen=True)
class Idempotency:
    """What a job-starting call claims: the hashed key of its caller and key, and its request's fingerprint."""

    key: str
    fingerprint: str


def fingerprint(*parts: bytes) -> str:
    """The fingerprint of a request: a hash of its bytes (without the key itself)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotency_of(owner: Owner, key: str, request_fingerprint: str) -> Idempotency | None:
    """The claim of a call (None without a key); ValidationError naming `idempotency_key` for a bad key."""
    if not key:
        return None
    if len(key) > MAX_KEY_CHARS or not _KEY.match(key):
        raise ValidationError.for_field(
            "idempotency_key",
            f"must be 1 to {MAX_KEY_CHARS} characters of letters, digits and . _ : ~ + / = - (a UUID is a good one)",
        )
    who = f"{len(owner.subject)}:{owner.subject}|{sorted(owner.paths) if owner.paths is not None else '*'}|{key}"
    return Idempotency(hashlib.sha256(who.encode()).hexdigest(), request_fingerprint)


class Claims:
    """The claims of idempotency keys in Redis (`airpy:idem:{hash}` -> "{token}:{fingerprint}")."""

    def __init__(self, conn: redis.Redis, ttl_s: int) -> None:
        self._ttl_s = ttl_s
        self._claim = conn.register_script(_CLAIM)
        self._release = conn.register_script(_RELEASE)
        self._keep = conn.register_script(_KEEP)

    def claim(self, idem: Idempotency, token: int) -> int:
        """The token the key names: `token` when this call claimed it, else the first call's.
        ValidationError when the key was used for another request."""
        value = f"{token}:{idem.fingerprint}"
        # A short life until the job is confirmed (`keep`): a call that dies between its claim
        # and its record, or whose record a failover lost, frees the key within seconds.
        with redis_errors():
            held, _ = self._claim(keys=[keys.idempotency(idem.key)], args=[value, _PENDING_TTL_S])
        held_token, _, fingerprint = (held.decode() if isinstance(held, bytes) else str(held)).partition(":")
        if fingerprint != idem.fingerprint:
            raise ValidationError.for_field(
                "idempotency_key", "was used for another request by this caller; choose a new key for a new request"
            )
        return int(held_token)

    def keep(self, idem: Idempotency, token: int) -> None:
        """The job of this claim is confirmed: the key names it for PY_JOB_TTL_S."""
        with redis_errors():
            self._keep(keys=[keys.idempotency(idem.key)], args=[f"{token}:{idem.fingerprint}", self._ttl_s])

    def release(self, idem: Idempotency, token: int) -> None:
        """Forget a claim whose job was not acknowledged (best effort: it expires anyway)."""
        try:
            with redis_errors():
                self._release(keys=[keys.idempotency(idem.key)], args=[f"{token}:{idem.fingerprint}"])
        except UnavailableError:
            return
