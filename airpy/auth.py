"""Bearer JWTs: who a call is from (`Principal`) and what its token allows.

Keys: HS256 with PY_AUTH_SECRET (and PY_AUTH_PREVIOUS_SECRET during a rotation: the embedded
default), or, with PY_AUTH_JWKS_FILE, public keys (RS256, ES256, EdDSA …) from a JWKS file,
selected by `kid`, each with its own pinned `alg`; HS256 is then refused, so airpy holds no
key that can mint tokens. The JWKS file is re-read when it changes; a bad re-read keeps the
last good key set (and is logged). `jku`/`x5u` headers are never fetched.

Policy (RFC 8725): exactly one `authorization` value; `sub` a non-empty string; `exp` required,
`iat`/`nbf` optional, each an integer (not a boolean, string or float) in a sane range; the
lifetime (`exp` - `iat`, or `exp` - now without `iat`) at most PY_AUTH_MAX_TTL_S; a clock
skew of LEEWAY_S is allowed on `exp`, `nbf` and `iat`. Optional claims narrow a token:
`airpy/paths` (path prefixes under the base path) and `airpy/scopes` (capabilities).

The error never says which check failed: that would help an attacker more than a caller.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

from airpy.errors import AuthError, ScopeDenied
from airpy.owners import Owner, Paths

log = logging.getLogger(__name__)

HS256 = "HS256"
# Asymmetric algorithms a JWKS key may name (its `alg` is pinned per key).
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
# Subject of tokens minted by `airpy token`, so tokens minted one after another see the same jobs.
DEFAULT_SUBJECT = "airpy-cli"
ANONYMOUS = "anonymous"
PATHS_CLAIM = "airpy/paths"
SCOPES_CLAIM = "airpy/scopes"
#: Clock skew allowed between the token's issuer and this server, in seconds.
LEEWAY_S = 30
_MAX_SUBJECT = 256
_MAX_TOKEN_CHARS = 8192
_MAX_PATHS = 100
# No JWT time is before 2000 or after 2200 (also keeps 10^30 and 10^400 out).
_MIN_TIME, _MAX_TIME = 946_684_800, 7_258_118_400
# A changed JWKS file is noticed within this many seconds.
_JWKS_CHECK_S = 1.0


class Scope(StrEnum):
    """What a token may do (`airpy/scopes`)."""

    READ = "read"  # Discover, InferSchema, Preview; Flight reads of the caller's frames
    QUERY = "query"  # Query, ExplainQuery
    ANALYZE = "analyze"  # Analyze
    INSIGHTS = "insights"  # Analyze of kind insights (aggregates go to the LLM endpoint)
    UPLOAD = "upload"  # UploadFrame, Flight DoPut
    ADMIN = "admin"  # ListJobs of every subject, ExplainQuery's engine plan


#: What a token without the claim may do: everything but admin.
DEFAULT_SCOPES = frozenset(Scope) - {Scope.ADMIN}


@dataclass(frozen=True)
class Principal:
    """Who a call is from, and what its token allows."""

    subject: str
    #: Path prefixes under the base path the call may read ("tenant-42", "shared/ref"; no
    #: trailing slash); None: the whole base path (airpy.owners).
    paths: Paths = None
    scopes: frozenset[Scope] = DEFAULT_SCOPES

    @property
    def owner(self) -> Owner:
        return Owner(self.subject, self.paths)

    def require(self, scope: Scope, what: str) -> None:
        """PERMISSION_DENIED (SCOPE_DENIED) unless the token has `scope`."""
        if scope not in self.scopes:
            raise ScopeDenied(
                f"{what} needs the {scope.value!r} scope, which this token does not have",
                metadata={"scope": scope.value},
            )


def normalize_paths(raw: object) -> tuple[str, ...]:
    """The `airpy/paths` claim as clean relative prefixes; ValueError for anything else."""
    if not isinstance(raw, list) or len(raw) > _MAX_PATHS:
        raise ValueError("airpy/paths is a list of path prefixes")
    prefixes = []
    for item in raw:
        if not isinstance(item, str) or not item or len(item) > 1024 or "\x00" in item or "\\" in item:
            raise ValueError("a path prefix is a non-empty relative path")
        norm = posixpath.normpath(item.strip("/"))
        if item.startswith("/") or norm in (".", "..") or norm.startswith("../") or any(c in norm for c in "*?[]{}"):
            raise ValueError("a path prefix is a plain relative path under the base path")
        prefixes.append(norm)
    return tuple(prefixes)


class _KeySet:
    """The public keys of a JWKS file, re-read when the file changes (kept on a bad re-read)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._load(initial=True)

    def key(self, kid: object) -> jwt.PyJWK | None:
        now = time.monotonic()
        if now - self._checked > _JWKS_CHECK_S:
            with self._lock:
                if now - self._checked > _JWKS_CHECK_S:
                    self._checked = now
                    self._load(initial=False)
        return self._keys.get(kid) if isinstance(kid, str) else None

    def _load(self, *, initial: bool) -> None:
        try:
            st = os.stat(self._path)  # follows the symlinks Kubernetes swaps
            identity = (st.st_ino, st.st_mtime_ns, st.st_size)
            if identity == self._seen:
                return
            data = json.loads(self._path.read_text())
            keys = _parse_jwks(data)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            if initial:
                raise ValueError(f"PY_AUTH_JWKS_FILE: {exc}") from None
            log.error("the JWKS file %s could not be read (%s); keeping the last good keys", self._path, exc)
            return
        self._keys, self._seen = keys, identity
        log.info("JWKS keys loaded", extra={"kids": sorted(keys)})


def _parse_jwks(data: object) -> dict[str, jwt.PyJWK]:
    """Every key of a JWKS, by `kid`; each must state `kid` and an asymmetric `alg`."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise ValueError('a JWKS file holds {"keys": [...]} with at least one key')
    keys: dict[str, jwt.PyJWK] = {}
    for entry in data["keys"]:
        if not isinstance(entry, dict):
            raise ValueError("every JWKS key is an object")  # noqa: TRY004 - a bad file, reported as one
        kid, alg = entry.get("kid"), entry.get("alg")
        # Without its own alg PyJWT would guess one from the key type: every key names its own.
        if not isinstance(kid, str) or not kid or alg not in ASYMMETRIC:
            raise ValueError("every JWKS key states its kid and an asymmetric alg (RS256, ES256, EdDSA …)")
        if "d" in entry:
            raise ValueError(f"key {kid!r} is a private key; the JWKS file holds public keys only")
        keys[kid] = jwt.PyJWK(entry, algorithm=alg)
    return keys


class Authenticator:
    """Checks the `authorization` metadata of a call and returns its principal."""

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        audience: str = "",
        disabled: bool = False,
        jwks_file: Path | None = None,
        max_ttl_s: int = 86400,
    ) -> None:
        self._secrets = [s.encode() for s in secrets if s]
        self._jwks = _KeySet(jwks_file) if jwks_file is not None else None
        self._audience = audience or None
        self._max_ttl_s = max_ttl_s
        self.disabled = disabled
        if not disabled and not self._secrets and self._jwks is None:
            raise ValueError("authentication needs at least one secret or a JWKS file")

    def principal(self, values: Iterable[str]) -> Principal:
        """The principal of a call's `authorization` values (all of them: one is allowed).
        Raises AuthError for a missing, repeated, malformed, expired or forged token."""
        if self.disabled:
            return Principal(ANONYMOUS)
        values = list(values)
        if not values:
            raise AuthError("missing credentials: send 'authorization: Bearer <JWT>'")
        if len(values) > 1:
            log.info("authentication failed: %d authorization values", len(values))
            raise AuthError("invalid credentials: send one 'authorization: Bearer <JWT>'")
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
            log.info("authentication failed: not a 'Bearer <JWT>' header")
            raise AuthError("invalid credentials: send 'authorization: Bearer <JWT>'")
        claims = self._verified(token)
        try:
            return self._principal_of(claims)
        except ValueError as exc:
            log.info("authentication failed: %s", exc)  # the reason is for the operator's log only
            raise AuthError("invalid credentials") from None

    def subject(self, authorization: str | None) -> str:
        """The subject of one authorization value (kept for callers with a single header)."""
        return self.principal([authorization] if authorization else []).subject

    def _verified(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            log.info("authentication failed: malformed token")
            raise AuthError("invalid credentials") from None
        options: dict[str, Any] = {"require": ["exp", "sub"]}
        if self._jwks is not None:
            key = self._jwks.key(header.get("kid"))
            if key is None or header.get("alg") != key.algorithm_name:
                log.info("authentication failed: no JWKS key for this kid and alg")
                raise AuthError("invalid credentials")
            return self._decode(token, key, [key.algorithm_name], options)
        if header.get("alg") != HS256:
            log.info("authentication failed: algorithm %r refused", header.get("alg"))
            raise AuthError("invalid credentials")
        for secret in self._secrets:
            try:
                return self._decode(token, secret, [HS256], options, quiet_signature=True)
            except _WrongKey:
                continue
        log.info("authentication failed: signature matches no configured key")
        raise AuthError("invalid credentials")

    def _decode(
        self, token: str, key: Any, algorithms: list[str], options: dict[str, Any], *, quiet_signature: bool = False
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                options=options,  # type: ignore[arg-type]
                leeway=LEEWAY_S,
            )
            return claims
        except jwt.InvalidSignatureError:
            if quiet_signature:
                raise _WrongKey from None
            log.info("authentication failed: bad signature")
            raise AuthError("invalid credentials") from None
        except jwt.PyJWTError as exc:
            log.info("authentication failed: %s", exc.__class__.__name__)
            raise AuthError("invalid credentials") from None

    def _principal_of(self, claims: dict[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT:
            raise ValueError("bad sub claim")
        times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
        for name, value in times.items():
            if type(value) is not int or not _MIN_TIME <= value <= _MAX_TIME:
                raise ValueError(f"the {name} claim is not an integer time")
        now = int(time.time())
        issued = times.get("iat", now)
        if issued > now + LEEWAY_S:
            raise ValueError("iat is in the future")
        if times["exp"] - issued > self._max_ttl_s:
            raise ValueError("the token lives longer than PY_AUTH_MAX_TTL_S")
        paths = normalize_paths(claims[PATHS_CLAIM]) if PATHS_CLAIM in claims else None
        scopes = DEFAULT_SCOPES
        if SCOPES_CLAIM in claims:
            raw = claims[SCOPES_CLAIM]
            if not isinstance(raw, list) or not all(isinstance(s, str) and s in set(Scope) for s in raw):
                raise ValueError("airpy/scopes lists scopes from read, query, analyze, insights, upload, admin")
            scopes = frozenset(Scope(s) for s in raw)
        return Principal(subject, paths, scopes)


class _WrongKey(Exception):
    """The token is not signed with this secret (another may match: rotation)."""


def mint(
    secret: str,
    subject: str = DEFAULT_SUBJECT,
    ttl_s: int = 12 * 3600,
    audience: str = "",
    *,
    paths: Sequence[str] | None = None,
    scopes: Sequence[str] | None = None,
) -> str:
    """An HS256 bearer token for debugging (`airpy token`) and tests."""
    claims = token_claims(subject, ttl_s, audience, paths=paths, scopes=scopes)
    return jwt.encode(claims, secret.encode(), algorithm=HS256)


def token_claims(
    subject: str,
    ttl_s: int,
    audience: str = "",
    *,
    paths: Sequence[str] | None = None,
    scopes: Sequence[str] | None = None,
) -> dict[str, object]:
    """The claims of a token airpy mints: sub, iat, exp (+ aud, airpy/paths, airpy/scopes)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + ttl_s}
    if audience:
        claims["aud"] = audience
    if paths is not None:
        claims[PATHS_CLAIM] = list(paths)
    if scopes is not None:
        claims[SCOPES_CLAIM] = list(scopes)
    return claims
