"""Bearer JWTs as plain function calls (airpy.auth): the token policy, scoped claims, JWKS keys."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from airpy.auth import DEFAULT_SCOPES, LEEWAY_S, Authenticator, Principal, Scope, mint, normalize_paths
from airpy.errors import AuthError, ScopeDenied
from airpy.owners import Owner, covers, within

SECRET = "s" * 40
OLD = "o" * 40


def token(claims: dict[str, object], key: str = SECRET, **kwargs: object) -> str:
    return jwt.encode(claims, key, algorithm="HS256", **kwargs)  # type: ignore[arg-type]


def now() -> int:
    return int(time.time())


def auth(**kwargs: object) -> Authenticator:
    return Authenticator([SECRET, OLD], **kwargs)  # type: ignore[arg-type]


def bearer(value: str) -> list[str]:
    return [f"Bearer {value}"]


def test_a_good_token_gives_its_subject_with_the_default_scopes() -> None:
    principal = auth().principal(bearer(mint(SECRET, "alice", 600)))
    assert principal == Principal("alice", None, DEFAULT_SCOPES)
    assert Scope.ADMIN not in principal.scopes


def test_the_previous_secret_is_accepted_during_a_rotation() -> None:
    assert auth().principal(bearer(mint(OLD, "bob", 600))).subject == "bob"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "a", "exp": 10**30},
        {"sub": "a", "exp": 10**400},
        {"sub": "a", "exp": "9999999999"},
        {"sub": "a", "exp": True},
        {"sub": "a", "exp": time.time() + 600.5},
        {"sub": "a", "iat": "1700000000", "exp": None},
        {"sub": "a", "nbf": "0", "exp": None},
        {"sub": "a", "iat": None, "exp": None},  # lives longer than PY_AUTH_MAX_TTL_S
        {"sub": "a", "exp": None, "iat": "future"},
        {"sub": 7, "exp": None},
        {"sub": "", "exp": None},
        {"sub": "a" * 300, "exp": None},
        {"sub": "a", "exp": None, "airpy/paths": "tenant-1"},
        {"sub": "a", "exp": None, "airpy/paths": ["../outside"]},
        {"sub": "a", "exp": None, "airpy/paths": ["/abs"]},
        {"sub": "a", "exp": None, "airpy/paths": ["t/*"]},
        {"sub": "a", "exp": None, "airpy/scopes": ["read", "root"]},
        {"sub": "a", "exp": None, "airpy/scopes": "read"},
    ],
    ids=[
        "exp-10^30",
        "exp-10^400",
        "exp-string",
        "exp-bool",
        "exp-float",
        "iat-string",
        "nbf-string",
        "too-long-lived",
        "iat-in-the-future",
        "sub-number",
        "sub-empty",
        "sub-long",
        "paths-not-a-list",
        "paths-escape",
        "paths-absolute",
        "paths-glob",
        "scopes-unknown",
        "scopes-not-a-list",
    ],
)
def test_tokens_outside_the_policy_are_refused(claims: dict[str, object]) -> None:
    claims = dict(claims)
    if claims.get("exp") is None:
        claims["exp"] = now() + 600
    if claims.get("iat") is None and "iat" in claims:
        claims["iat"] = now() - 3 * 86400  # a three-day lifetime
        claims["exp"] = now() + 600
    if claims.get("iat") == "future":
        claims["iat"] = now() + 3600
    with pytest.raises(AuthError, match=r"^invalid credentials$"):
        auth().principal(bearer(token(claims)))


def test_without_iat_the_lifetime_is_counted_from_now() -> None:
    assert auth(max_ttl_s=3600).principal(bearer(token({"sub": "a", "exp": now() + 3000}))).subject == "a"
    with pytest.raises(AuthError):
        auth(max_ttl_s=3600).principal(bearer(token({"sub": "a", "exp": now() + 4000})))


def test_the_clock_skew_leeway_is_stated_and_applied() -> None:
    assert LEEWAY_S == 30
    assert auth().principal(bearer(token({"sub": "a", "exp": now() - 10}))).subject == "a"
    with pytest.raises(AuthError):
        auth().principal(bearer(token({"sub": "a", "exp": now() - LEEWAY_S - 30})))


def test_more_than_one_authorization_value_is_refused_even_if_one_is_good() -> None:
    good = f"Bearer {mint(SECRET, 'alice', 600)}"
    with pytest.raises(AuthError, match="one 'authorization"):
        auth().principal(["Bearer junk", good])
    with pytest.raises(AuthError):
        auth().principal([good, good])


def test_other_algorithms_and_unsigned_tokens_are_refused() -> None:
    claims = {"sub": "a", "exp": now() + 600}
    for raw in (
        jwt.encode(claims, SECRET * 2, algorithm="HS512"),
        jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
    ):
        with pytest.raises(AuthError):
            auth().principal(bearer(raw))


def test_scoped_claims_narrow_the_principal() -> None:
    raw = mint(SECRET, "t", 600, paths=["tenant-42/", "shared/ref"], scopes=["read", "query"])
    principal = auth().principal(bearer(raw))
    assert principal.paths == ("tenant-42", "shared/ref")
    assert principal.scopes == {Scope.READ, Scope.QUERY}
    principal.require(Scope.READ, "Discover")
    with pytest.raises(ScopeDenied) as caught:
        principal.require(Scope.UPLOAD, "UploadFrame")
    assert caught.value.reason == "SCOPE_DENIED" and caught.value.metadata["scope"] == "upload"


def test_an_empty_list_allows_nothing() -> None:
    principal = auth().principal(bearer(mint(SECRET, "t", 600, paths=[], scopes=[])))
    assert principal.paths == () and principal.scopes == frozenset()
    assert not within("anything", principal.paths)
    assert not within("", principal.paths)


def test_prefix_rules() -> None:
    assert normalize_paths(["a/b/", "c"]) == ("a/b", "c")
    assert within("a/b", ("a/b",)) and within("a/b/c.csv", ("a/b",))
    assert not within("a/bc", ("a/b",)) and not within("a", ("a/b",)) and not within("", ("a",))
    assert within("", None)
    assert covers(None, None) and covers(None, ("x",))
    assert not covers(("x",), None)  # an unscoped job is not a scoped token's to see
    assert covers(("x",), ("x/y",)) and not covers(("x",), ("x", "z"))
    assert Owner("alice", ("x",)).sees("alice", ("x",))
    assert not Owner("alice", ("x",)).sees("bob", ("x",))
    assert not Owner("alice", ("x",)).sees("alice", ("y",))


def _jwk(public: object, kid: str, alg: str) -> dict[str, object]:
    data = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(public))
    return {**data, "kid": kid, "alg": alg}


@pytest.fixture
def keys() -> dict[str, object]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }


def _write_jwks(path: Path, entries: list[dict[str, object]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": entries}))
    os.replace(tmp, path)


def test_jwks_keys_verify_asymmetric_tokens_by_kid_and_refuse_hs256(tmp_path: Path, keys) -> None:
    jwks = tmp_path / "jwks.json"
    _write_jwks(
        jwks,
        [
            _jwk(keys["rsa"].public_key(), "r1", "RS256"),
            _jwk(keys["ec"].public_key(), "e1", "ES256"),
            _jwk(keys["ed"].public_key(), "d1", "EdDSA"),
        ],
    )
    verifier = Authenticator([], jwks_file=jwks)
    claims = {"sub": "go-backend", "exp": now() + 600, "iat": now()}
    for key, kid, alg in ((keys["rsa"], "r1", "RS256"), (keys["ec"], "e1", "ES256"), (keys["ed"], "d1", "EdDSA")):
        assert verifier.principal(bearer(jwt.encode(claims, key, algorithm=alg, headers={"kid": kid}))).subject
    with pytest.raises(AuthError):  # the kid names an RS256 key: another algorithm is refused
        verifier.principal(bearer(jwt.encode(claims, keys["ec"], algorithm="ES256", headers={"kid": "r1"})))
    with pytest.raises(AuthError):  # no such kid
        verifier.principal(bearer(jwt.encode(claims, keys["rsa"], algorithm="RS256", headers={"kid": "x"})))
    with pytest.raises(AuthError):  # HS256 (even with the kid of a key) is never accepted here
        verifier.principal(bearer(jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "r1"})))


def test_a_changed_jwks_file_is_reread_and_a_bad_one_keeps_the_last_good_keys(tmp_path: Path, keys) -> None:
    jwks = tmp_path / "jwks.json"
    _write_jwks(jwks, [_jwk(keys["rsa"].public_key(), "old", "RS256")])
    verifier = Authenticator([], jwks_file=jwks)
    claims = {"sub": "a", "exp": now() + 600}
    signed_new = jwt.encode(claims, keys["ec"], algorithm="ES256", headers={"kid": "new"})
    signed_old = jwt.encode(claims, keys["rsa"], algorithm="RS256", headers={"kid": "old"})
    _write_jwks(jwks, [_jwk(keys["ec"].public_key(), "new", "ES256")])
    deadline = time.monotonic() + 5
    while True:
        try:
            verifier.principal(bearer(signed_new))
            break
        except AuthError:
            assert time.monotonic() < deadline, "the new key was never read"
            time.sleep(0.2)
    with pytest.raises(AuthError):
        verifier.principal(bearer(signed_old))  # rotated out
    jwks.write_text("{not json")
    time.sleep(1.5)
    assert verifier.principal(bearer(signed_new)).subject == "a"  # the last good set stays


@pytest.mark.parametrize(
    "entry",
    [
        {"kty": "RSA", "n": "x", "e": "AQAB", "kid": "k"},  # no alg: PyJWT would guess one
        {"kty": "RSA", "n": "x", "e": "AQAB", "alg": "RS256"},  # no kid
        {"kty": "oct", "k": "c2VjcmV0", "kid": "k", "alg": "HS256"},  # a symmetric key
    ],
)
def test_a_jwks_file_whose_keys_do_not_state_kid_and_an_asymmetric_alg_is_refused(tmp_path: Path, entry) -> None:
    jwks = tmp_path / "jwks.json"
    _write_jwks(jwks, [entry])
    with pytest.raises(ValueError, match="PY_AUTH_JWKS_FILE"):
        Authenticator([], jwks_file=jwks)


def test_airpy_keys_makes_a_key_pair_whose_tokens_airpy_verifies(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from airpy.signing_keys import add_key

    first_kid, first_key, jwks_file = add_key(tmp_path / "keys")
    kid, key_file, _ = add_key(tmp_path / "keys")  # a rotation: the first key stays valid
    assert (tmp_path / "keys" / "signing.pem").resolve() == key_file.resolve()
    assert key_file.stat().st_mode & 0o777 == 0o600
    auth = Authenticator([], jwks_file=jwks_file)
    now = int(time.time())
    for signer, key_id in ((key_file, kid), (first_key, first_kid)):
        private = serialization.load_pem_private_key(signer.read_bytes(), password=None)
        token = jwt.encode(
            {"sub": "go-backend", "iat": now, "exp": now + 300, "airpy/paths": ["tenant-7"], "airpy/scopes": ["read"]},
            private,  # type: ignore[arg-type]
            algorithm="EdDSA",
            headers={"kid": key_id},
        )
        principal = auth.principal([f"Bearer {token}"])
        assert (principal.subject, principal.paths) == ("go-backend", ("tenant-7",))
