"""Signing keys for tokens a Go backend mints itself (`airpy keys`).

An Ed25519 key pair: the private key (PKCS#8 PEM, mode 0600) is for the token issuer, the public
key goes into a JWKS file that airpy reads (PY_AUTH_JWKS_FILE) with its `kid` (the RFC 7638
thumbprint) and `alg` (EdDSA). Adding a key keeps the keys already in the file, so tokens signed
with the previous key verify until it is removed: a rotation without downtime.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def thumbprint(x: str) -> str:
    """RFC 7638 thumbprint of an Ed25519 public key (`x`, base64url): the `kid`."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def add_key(folder: Path) -> tuple[str, Path, Path]:
    """A new key pair in `folder`: (kid, private key file, JWKS file). The JWKS file keeps the keys
    it held; the private key file of this kid is `signing-<kid>.pem` and `signing.pem` the newest."""
    folder.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    x = _b64(private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    kid = thumbprint(x)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = folder / f"signing-{kid}.pem"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    newest = folder / "signing.pem"
    newest.unlink(missing_ok=True)
    newest.symlink_to(key_file.name)
    jwks_file = folder / "jwks.json"
    keys = json.loads(jwks_file.read_text())["keys"] if jwks_file.exists() else []
    keys.append({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
    tmp = jwks_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": keys}, indent=2) + "\n")
    os.replace(tmp, jwks_file)  # airpy re-reads it whole, never half-written
    return kid, key_file, jwks_file


def mint_signed(key_file: Path, claims: dict[str, object]) -> str:
    """A token signed with an Ed25519 private key from `airpy keys` (for grpcurl and the CLI of
    a server that reads PY_AUTH_JWKS_FILE); its kid is the key's thumbprint. ValueError for
    another kind of key."""
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{key_file}: not an Ed25519 private key (make one with `airpy keys`)")  # noqa: TRY004 - a bad file
    x = _b64(private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": thumbprint(x)})
