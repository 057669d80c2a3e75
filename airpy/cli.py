"""The `airpy` command: serve | worker | token | sample, and the client commands for a running
server (airpy/cli_client.py: discover | infer | preview | query | analyze | jobs | watch | fetch |
cancel | info)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from airpy import __version__, client, logs, objectstore
from airpy.auth import DEFAULT_SUBJECT, mint, token_claims
from airpy.cli_client import add_client_commands, read_settings
from airpy.errors import AirpyError
from airpy.kinds import QUEUES
from airpy.openfiles import raise_open_files_limit


def cmd_serve(args: argparse.Namespace) -> int:
    from airpy.supervisor import serve

    settings = read_settings()
    logs.configure("server", settings.log_format, settings.log_level)
    # Before anything starts: the workers and Redis it spawns inherit the raised limit.
    raise_open_files_limit(settings.max_csv_files)
    try:
        asyncio.run(serve(settings, port_file=args.port_file))
    except (OSError, RuntimeError, AirpyError) as exc:
        # Start-up failures (port in use, Redis not starting, unreadable data dir) as one line.
        print(f"airpy serve: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from airpy.jobs.worker import run_worker
    from airpy.parent_death import die_with_parent
    from airpy.tasks import SETUP

    settings = read_settings()
    logs.configure(f"worker-{args.queue}", settings.log_format, settings.log_level)
    raise_open_files_limit(settings.max_csv_files)
    if settings.embedded:
        print("airpy worker: REDIS_URL (or REDIS_SENTINELS) must point at the Redis the server uses", file=sys.stderr)
        return 2
    parent = os.environ.get("AIRPY_PARENT_PID", "")
    if parent.isdigit():  # started by `airpy serve`: stop when it is gone
        die_with_parent(signal.SIGTERM, int(parent))
    run_worker(settings, args.queue, SETUP, name=args.name, burst=args.burst)
    return 0


def cmd_flight(args: argparse.Namespace) -> int:
    from airpy.flight.process import run_flight
    from airpy.parent_death import die_with_parent

    settings = read_settings()
    logs.configure("flight", settings.log_format, settings.log_level)
    if settings.embedded:
        print("airpy flight: REDIS_URL (or REDIS_SENTINELS) must point at the Redis the server uses", file=sys.stderr)
        return 2
    if not settings.flight_listen:
        print("airpy flight: PY_FLIGHT_LISTEN is empty (Flight is off)", file=sys.stderr)
        return 2
    parent = os.environ.get("AIRPY_PARENT_PID", "")
    if parent.isdigit():  # started by `airpy serve`: stop when it is gone
        die_with_parent(signal.SIGTERM, int(parent))
    try:
        return run_flight(settings, port_file=args.port_file, token_mark=args.token_mark)
    except (OSError, AirpyError) as exc:
        print(f"airpy flight: cannot start: {exc}", file=sys.stderr)
        return 1


def cmd_token(args: argparse.Namespace) -> int:
    # Never invent a secret here: a token signed with a key the server does not have is useless.
    settings = read_settings(create_secret=False)
    paths = [p for p in args.paths.split(",") if p] if args.paths is not None else None
    scopes = [s for s in args.scopes.split(",") if s] if args.scopes is not None else None
    if args.key is not None:
        from airpy.signing_keys import mint_signed

        claims = token_claims(args.subject, args.ttl_s, settings.auth_audience, paths=paths, scopes=scopes)
        print(mint_signed(args.key, claims))
        return 0
    if settings.auth_disabled:
        print("airpy token: authentication is disabled (PY_AUTH_DISABLED)", file=sys.stderr)
    if settings.auth_jwks_file is not None:
        print(
            "airpy token: with PY_AUTH_JWKS_FILE, airpy accepts tokens signed by your issuer's private keys only: "
            "sign with one of them (--key .airpy/keys/signing.pem, from `airpy keys`)",
            file=sys.stderr,
        )
        return 2
    if not settings.auth_secret:
        print(
            f"airpy token: no secret to sign with: {settings.data_dir / 'secret'} does not exist.\n"
            "Run it from the directory where `airpy serve` runs (same PY_DATA_DIR), or set PY_AUTH_SECRET.",
            file=sys.stderr,
        )
        return 2
    print(mint(settings.auth_secret, args.subject, args.ttl_s, settings.auth_audience, paths=paths, scopes=scopes))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from airpy.signing_keys import add_key

    kid, key_file, jwks_file = add_key(args.out)
    print(f"kid {kid}")
    print(f"private key (for the token issuer): {key_file} (also {args.out / 'signing.pem'})")
    print(f"public keys (for airpy): PY_AUTH_JWKS_FILE={jwks_file}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from airpy.sample import write_sample

    settings = read_settings()
    if settings.uses_object_store:
        objectstore.configure(settings.s3_endpoint, settings.s3_region)
    root = write_sample(settings.base_path, force=args.force)
    print(f"sample dataset in {root}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="airpy", description="airpy: gRPC data-science service for a Go backend")
    top.add_argument("--version", action="version", version=f"airpy {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server with its workers (and embedded Redis without REDIS_URL)")
    serve.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run one more worker against REDIS_URL")
    worker.add_argument("--queue", choices=QUEUES, required=True)
    worker.add_argument("--name", help="worker name (default host.pid.queue)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(func=cmd_worker)

    flight = sub.add_parser("flight", help="serve Arrow Flight against REDIS_URL (`airpy serve` starts one itself)")
    flight.add_argument("--port-file", type=Path, help="write the bound port here once serving")
    flight.add_argument("--token-mark", type=Path, help="the embedded mode's token high-water mark file")
    flight.set_defaults(func=cmd_flight)

    token = sub.add_parser("token", help="print a bearer token (JWT) for grpcurl and debugging")
    token.add_argument("--subject", default=DEFAULT_SUBJECT, help=f"JWT subject (default {DEFAULT_SUBJECT})")
    token.add_argument("--ttl-s", type=int, default=12 * 3600, help="lifetime in seconds (default 12 h)")
    token.add_argument(
        "--paths", help="airpy/paths: comma-separated path prefixes the token may read (e.g. tenant-42/,shared/ref/)"
    )
    token.add_argument("--scopes", help="airpy/scopes: comma-separated, from read,query,analyze,insights,upload,admin")
    token.add_argument(
        "--key",
        type=Path,
        help="sign with this Ed25519 private key (from `airpy keys`) for a server with PY_AUTH_JWKS_FILE",
    )
    token.set_defaults(func=cmd_token)

    keys = sub.add_parser(
        "keys", help="add an Ed25519 signing key: its private key for your token issuer, its public key to a JWKS file"
    )
    keys.add_argument("--out", type=Path, required=True, help="folder of the keys (jwks.json keeps earlier keys)")
    keys.set_defaults(func=cmd_keys)

    sample = sub.add_parser("sample", help="write the sample dataset under PY_BASE_PATH/sample")
    sample.add_argument("--force", action="store_true", help="rewrite it when it exists")
    sample.set_defaults(func=cmd_sample)
    add_client_commands(sub)
    return top


# Options whose value may start with "-" (a descending order: `--order-by -kwh_sum`), which
# argparse would otherwise take for an option of its own.
_DASHED_VALUES = ("--order-by",)


def _joined(argv: list[str]) -> list[str]:
    """argv with `--order-by -x` written as `--order-by=-x`."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in _DASHED_VALUES and arg.startswith("-") and not arg.startswith("--"):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(_joined(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args))
    except client.CallFailed as exc:
        # One line a person can act on: code, reason, field path and what is wrong with it.
        print(f"airpy {args.command}: {exc.line()}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # a bad plan file or flag, an unwritable output
        print(f"airpy {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C during `watch` or a `--wait`: the job runs on (`airpy cancel` stops it)
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
