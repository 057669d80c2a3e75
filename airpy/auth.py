"""Bearer JWTs: HS256 only, `exp` and `sub` required, signed with PY_AUTH_SECRET.

During a key rotation PY_AUTH_PREVIOUS_SECRET is accepted too. The error never
says which check failed: that would help an attacker more than a caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import jwt

from airpy.errors import AuthError

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
# Subject of tokens minted by `airpy token`, so tokens minted one after another see the same jobs.
DEFAULT_SUBJECT = "airpy-cli"
ANONYMOUS = "anonymous"
_MAX_SUBJECT = 256
_MAX_TOKEN_CHARS = 8192


class Authenticator:
    """Checks the `authorization` metadata of a call and returns its subject."""

    def __init__(self, secrets: Sequence[str], *, audience: str = "", disabled: bool = False) -> None:
        self._keys = [s.encode() for s in secrets if s]
        self._audience = audience or None
        self.disabled = disabled
        if not disabled and not self._keys:
            raise ValueError("authentication needs at least one secret")

    def subject(self, authorization: str | None) -> str:
        """The JWT subject; raises AuthError for a missing, malformed, expired or forged token."""
        if self.disabled:
            return ANONYMOUS
        if not authorization:
            raise AuthError("missing credentials: send 'authorization: Bearer <JWT>'")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
            log.info("authentication failed: not a 'Bearer <JWT>' header")
            raise AuthError("invalid credentials: send 'authorization: Bearer <JWT>'")
        for key in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    audience=self._audience,
                    options={"require": ["exp", "sub"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                # The reason is for the operator's log only, never for the caller.
                log.info("authentication failed: %s", exc.__class__.__name__)
                raise AuthError("invalid credentials") from None
            subject = claims.get("sub")
            if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT:
                log.info("authentication failed: bad sub claim")
                raise AuthError("invalid credentials")
            return subject
        log.info("authentication failed: signature matches no configured key")
        raise AuthError("invalid credentials")


def mint(secret: str, subject: str = DEFAULT_SUBJECT, ttl_s: int = 12 * 3600, audience: str = "") -> str:
    """A bearer token for debugging (`airpy token`) and tests."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + ttl_s}
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret.encode(), algorithm=ALGORITHM)
