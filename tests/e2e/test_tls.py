"""TLS and mutual TLS (PY_TLS_CERT, PY_TLS_KEY, PY_TLS_CLIENT_CA) with certificates made here.

A CA signs the server's certificate (for 127.0.0.1/localhost) and a client certificate; a
second, unrelated CA signs a client certificate the server must not accept.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from airpy.auth import mint
from airpy.config import Settings
from airpy.v1 import info_service_pb2, info_service_pb2_grpc
from tests.conftest import next_database
from tests.support.stack import REPO, SECRET, ServerThread, stack_env

Pem = tuple[bytes, bytes]  # (certificate, key)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _pem(pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> Pem:
    cert, key = pair
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue("airpy test CA", None, ca=True)
    other_ca = _issue("someone else's CA", None, ca=True)
    server = _pem(_issue("airpy", ca, server=True))
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    files["ca"].write_bytes(_pem(ca)[0])
    files["cert"].write_bytes(server[0])
    files["key"].write_bytes(server[1])
    return {
        **files,
        "ca_pem": _pem(ca)[0],
        "client": _pem(_issue("go-backend", ca)),
        "stranger": _pem(_issue("go-backend", other_ca)),
    }


def _server(redis_server, tmp_path: Path, **tls: str) -> ServerThread:
    env = stack_env(f"{redis_server.url}?db={next_database()}", tmp_path, **tls)
    thread = ServerThread(Settings.from_env(env))
    thread.start()
    return thread


def _info(channel: grpc.Channel) -> info_service_pb2.GetServerInfoResponse:
    stub = info_service_pb2_grpc.InfoServiceStub(channel)
    metadata = [("authorization", f"Bearer {mint(SECRET, 'alice', 600)}")]
    return stub.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=metadata, timeout=5)


def _secure(port: int, pki, client: Pem | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca_pem"],
        private_key=client[1] if client else None,
        certificate_chain=client[0] if client else None,
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)


def test_tls_serves_tls_clients_and_refuses_plaintext(redis_server, tmp_path, pki) -> None:
    server = _server(redis_server, tmp_path, PY_TLS_CERT=pki["cert"], PY_TLS_KEY=pki["key"])
    try:
        with _secure(server.port, pki) as channel:
            assert _info(channel).versions  # a TLS client that trusts the CA gets through
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, pytest.raises(grpc.RpcError) as caught:
            _info(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def test_mutual_tls_needs_a_client_certificate_from_the_configured_ca(redis_server, tmp_path, pki) -> None:
    server = _server(redis_server, tmp_path, PY_TLS_CERT=pki["cert"], PY_TLS_KEY=pki["key"], PY_TLS_CLIENT_CA=pki["ca"])
    try:
        with _secure(server.port, pki, pki["client"]) as channel:
            assert _info(channel).versions
        for refused in (None, pki["stranger"]):  # no certificate; one from another CA
            with _secure(server.port, pki, refused) as channel, pytest.raises(grpc.RpcError) as caught:
                _info(channel)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, pytest.raises(grpc.RpcError) as caught:
            _info(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PY_") and k not in ("REDIS_URL", "AIRPY_TOKEN")}
    env.update({"PY_AUTH_SECRET": SECRET, "PYTHONPATH": str(REPO)})
    return subprocess.run(
        [sys.executable, "-m", "airpy", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_cli_calls_a_tls_server_and_never_sends_a_token_in_clear_text_off_loopback(
    redis_server, tmp_path, pki
) -> None:
    server = _server(redis_server, tmp_path, PY_TLS_CERT=pki["cert"], PY_TLS_KEY=pki["key"])
    try:
        secure = _cli("info", "--json", "--address", f"localhost:{server.port}", "--tls-ca", str(pki["ca"]))
        assert secure.returncode == 0, secure.stderr
        assert "queues" in secure.stdout
        plain = _cli("info", "--address", f"127.0.0.1:{server.port}")
        assert plain.returncode == 1  # plaintext to a TLS port: the call fails, as one line
        assert plain.stderr.startswith("airpy info: UNAVAILABLE")
    finally:
        server.stop()
    remote = _cli("info", "--address", "192.0.2.10:50051")  # TEST-NET-1: never reached
    assert remote.returncode == 2
    assert "refusing to send a token without TLS" in remote.stderr


def _flight_server(redis_server, tmp_path: Path, **tls: object) -> tuple[subprocess.Popen[bytes], int]:
    """`airpy flight` with the TLS files (its own process, as `airpy serve` runs it)."""
    import time

    env = stack_env(f"{redis_server.url}?db={next_database()}", tmp_path, PY_FLIGHT_LISTEN="127.0.0.1:0", **tls)
    port_file = tmp_path / "flight.port"
    process = subprocess.Popen(
        [sys.executable, "-m", "airpy", "flight", "--port-file", str(port_file)], env=env, cwd=REPO
    )
    deadline = time.monotonic() + 60
    while not port_file.exists():
        assert process.poll() is None and time.monotonic() < deadline, "airpy flight did not start"
        time.sleep(0.05)
    return process, int(port_file.read_text())


def _flight_list(port: int, pki, client: Pem | None = None, *, tls: bool = True) -> list[object]:
    import pyarrow.flight as flight

    options: dict[str, object] = {}
    if tls:
        options["tls_root_certs"] = pki["ca_pem"]
        if client:
            options["cert_chain"], options["private_key"] = client
    location = f"grpc+tls://localhost:{port}" if tls else f"grpc://127.0.0.1:{port}"
    api = flight.FlightClient(location, **options)
    token = mint(SECRET, "alice", 600)
    call = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())], timeout=5)
    return list(api.list_flights(options=call))


def test_flight_serves_tls_and_mutual_tls_from_the_same_files(redis_server, tmp_path, pki) -> None:
    import pyarrow as pa
    import pyarrow.flight as flight

    process, port = _flight_server(redis_server, tmp_path / "tls", PY_TLS_CERT=pki["cert"], PY_TLS_KEY=pki["key"])
    try:
        assert _flight_list(port, pki) == []  # a TLS client that trusts the CA gets through
        with pytest.raises((flight.FlightError, pa.ArrowException)):
            _flight_list(port, pki, tls=False)
    finally:
        process.kill()
        process.wait(10)
    mutual = {"PY_TLS_CERT": pki["cert"], "PY_TLS_KEY": pki["key"], "PY_TLS_CLIENT_CA": pki["ca"]}
    process, port = _flight_server(redis_server, tmp_path / "mtls", **mutual)
    try:
        assert _flight_list(port, pki, pki["client"]) == []
        for refused in (None, pki["stranger"]):
            with pytest.raises((flight.FlightError, pa.ArrowException)):
                _flight_list(port, pki, refused)
    finally:
        process.kill()
        process.wait(10)
