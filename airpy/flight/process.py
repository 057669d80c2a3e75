"""`airpy flight`: the Arrow Flight server as a process of its own, beside the gRPC server.

Why its own process (`airpy serve` starts and supervises it; in Kubernetes it can be a
container of its own):
- pyarrow's FlightServerBase exposes no gRPC server options (no receive-size limit, no
  keepalive settings), so a misbehaving upload's memory is contained in this process, apart
  from the server every other call shares;
- its `shutdown()` waits for running calls with no grace limit: a process can be killed once
  PY_SHUTDOWN_GRACE_S has passed.

The process writes its bound port to `--port-file` once it serves (port 0 picks one), and stops
on SIGTERM: running calls get PY_SHUTDOWN_GRACE_S, then the process exits anyway.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from airpy import tracing
from airpy.config import Settings
from airpy.flight.calls import CallFactory, FlightStats
from airpy.flight.server import FlightService
from airpy.runtime import authenticator, build_runtime

log = logging.getLogger("airpy.flight")


def endpoint_locations(settings: Settings, port: int) -> list[str]:
    """The locations endpoints carry: the advertised one; else this listen address with its bound
    port; none for a wildcard host (Flight clients then use the connection they called on)."""
    if settings.flight_advertise:
        return [settings.flight_advertise]
    host = settings.flight_listen.rpartition(":")[0]
    if host in ("0.0.0.0", "[::]", "::", ""):
        return []
    return [f"{settings.flight_scheme}://{host}:{port}"]


def build_service(settings: Settings, *, token_mark: Path | None = None) -> tuple[FlightService, FlightStats]:
    """The Flight service of `settings` (settings.redis_url set), serving on settings.flight_listen."""
    runtime = build_runtime(settings, token_mark=token_mark)
    auth = authenticator(settings)
    name = f"{socket.gethostname()}.{os.getpid()}"
    stats = FlightStats(runtime.core.conn, name)
    tls = None
    client_ca = None
    if settings.tls_cert:
        tls = (Path(settings.tls_cert).read_bytes(), Path(settings.tls_key).read_bytes())
        client_ca = Path(settings.tls_client_ca).read_bytes() if settings.tls_client_ca else None
    location = f"{settings.flight_scheme}://{settings.flight_listen}"
    service = FlightService(runtime, location, CallFactory(auth, stats), tls=tls, client_ca=client_ca)
    service.advertise(endpoint_locations(settings, service.port))
    stats.start()
    return service, stats


def run_flight(settings: Settings, *, port_file: Path | None = None, token_mark: Path | None = None) -> int:
    """Serve Flight until SIGTERM/SIGINT; returns the exit status."""
    # No traceback (and so no server path) in the errors pyarrow builds from ValueError/KeyError:
    # the one mapping (airpy.flight.errors) raises those for INVALID_ARGUMENT and NOT_FOUND.
    sys.tracebacklimit = 0
    tracing.setup("airpy-flight")
    if settings.auth_disabled:
        log.warning("authentication is DISABLED (PY_AUTH_DISABLED): any caller can use Flight")
    service, stats = build_service(settings, token_mark=token_mark)
    if port_file is not None:
        port_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(service.port))
        tmp.replace(port_file)
    log.info("Flight serving on port %s", service.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("Flight shutting down")
    stats.stop()
    done = threading.Thread(target=service.shutdown, name="airpy-flight-shutdown", daemon=True)
    done.start()
    done.join(settings.shutdown_grace_s)
    if done.is_alive():
        log.warning("Flight calls still running after %.0f s; exiting", settings.shutdown_grace_s)
        os._exit(0)
    return 0
