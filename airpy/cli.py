"""The `airpy` command: serve | worker | token | sample, and client commands for a running server
(discover | infer | preview | query | analyze | jobs | watch | fetch | cancel | info).

The client commands only parse arguments and print; the calls are in airpy/client.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from airpy import __version__, client, logs, objectstore
from airpy.auth import DEFAULT_SUBJECT, mint
from airpy.config import QUEUES, Settings, SettingsError
from airpy.errors import AirpyError
from airpy.v1 import analyze_pb2, job_pb2, query_pb2


def _settings(*, create_secret: bool = True) -> Settings:
    try:
        return Settings.from_env(create_secret=create_secret)
    except SettingsError as exc:
        print(f"airpy: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from airpy.supervisor import serve

    settings = _settings()
    logs.configure("server", settings.log_format, settings.log_level)
    try:
        asyncio.run(serve(settings, port_file=args.port_file))
    except (OSError, RuntimeError, AirpyError) as exc:
        # Start-up failures (port in use, Redis not starting, unreadable data dir) as one line.
        print(f"airpy serve: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from airpy.jobs.worker import die_with_parent, run_worker
    from airpy.tasks import HANDLERS

    settings = _settings()
    logs.configure(f"worker-{args.queue}", settings.log_format, settings.log_level)
    if not settings.redis_url:
        print("airpy worker: REDIS_URL must point at the Redis the server uses", file=sys.stderr)
        return 2
    parent = os.environ.get("AIRPY_PARENT_PID", "")
    if parent.isdigit():  # started by `airpy serve`: stop when it is gone
        die_with_parent(signal.SIGTERM, int(parent))
    run_worker(settings, args.queue, HANDLERS, name=args.name, burst=args.burst)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    # Never invent a secret here: a token signed with a key the server does not have is useless.
    settings = _settings(create_secret=False)
    if settings.auth_disabled:
        print("airpy token: authentication is disabled (PY_AUTH_DISABLED)", file=sys.stderr)
    if not settings.auth_secret:
        print(
            f"airpy token: no secret to sign with: {settings.data_dir / 'secret'} does not exist.\n"
            "Run it from the directory where `airpy serve` runs (same PY_DATA_DIR), or set PY_AUTH_SECRET.",
            file=sys.stderr,
        )
        return 2
    print(mint(settings.auth_secret, args.subject, args.ttl_s, settings.auth_audience))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from airpy.sample import write_sample

    settings = _settings()
    objectstore.configure_for(settings)
    root = write_sample(settings.base_path, force=args.force)
    print(f"sample dataset in {root}")
    return 0


# -- client commands


def _client(args: argparse.Namespace) -> client.Client:
    """A client of the server at --address (default: PY_LISTEN) with --token or one minted here."""
    token = args.token or os.environ.get("AIRPY_TOKEN", "")
    if not token:
        settings = _settings(create_secret=False)
        if settings.auth_secret:
            token = mint(settings.auth_secret, args.subject, 3600, settings.auth_audience)
        else:  # only a server with PY_AUTH_DISABLED will answer
            print(
                f"airpy {args.command}: no token (no --token, AIRPY_TOKEN, PY_AUTH_SECRET or "
                f"{settings.data_dir / 'secret'}): calling without one",
                file=sys.stderr,
            )
    address = args.address or client.client_address(os.environ.get("PY_LISTEN", client.DEFAULT_ADDRESS))
    return client.connect(address, token, args.timeout_s, tls=args.tls, ca_file=args.tls_ca)


def _started(args: argparse.Namespace, api: client.Client, token: int) -> int:
    """What a job-starting command prints: the token alone (for scripts), or the job followed to its end."""
    if not (args.wait or getattr(args, "output", None)):
        print(token)
        return 0
    if _follow(api, token) != job_pb2.JOB_STATUS_COMPLETED:  # from the start: a cached job has ended already
        return 1
    if getattr(args, "output", None):
        rows = client.fetch_to_file(api, token, args.output)
        print(f"{rows} rows written to {args.output}")
    if args.json:
        print(client.to_json(client.get_job(api, token)))
    return 0


def _short(enum: Any, value: int) -> str:
    """A job status or kind as people read it: JOB_STATUS_COMPLETED -> completed."""
    name: str = enum.Name(value)
    return name.split("_", 2)[2].lower()


def _follow(api: client.Client, token: int, from_seq: int = 0) -> int:
    """Follow a job with a live progress bar (on stderr) and a line per step; returns its end status."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, highlight=False, soft_wrap=True)  # a step is one line, also in logs
    columns = (
        SpinnerColumn(),
        TextColumn("job {task.fields[token]} [bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    status = job_pb2.JOB_STATUS_UNSPECIFIED
    error = job_pb2.JobError()
    # The bar is for people: piped or captured output gets the step lines only.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        bar = progress.add_task("waiting", total=1.0, token=token)
        for event in client.watch(api, token, from_seq):
            status, step = event.status, event.step
            name = _short(job_pb2.JobStatus, status)
            progress.update(bar, description=step.step or name)
            if step.HasField("progress"):
                progress.update(bar, completed=step.progress)
            if event.HasField("step"):
                progress.console.print(f"  #{event.seq} {step.step} {step.message}".rstrip())
            if event.terminal:
                error = event.error
                break
    name = _short(job_pb2.JobStatus, status)
    if status == job_pb2.JOB_STATUS_COMPLETED:
        console.print(f"job {token} {name}")
    else:
        failed = client.CallFailed(
            error.code, error.message, error.reason, tuple((v.field, v.description) for v in error.field_violations)
        )
        console.print(f"job {token} {name}: {failed.line()}")
    return status


def cmd_discover(args: argparse.Namespace) -> int:
    api = _client(args)
    token, _ = client.discover(api, args.uri, recurse=not args.no_recurse, datasource_id=args.datasource)
    return _started(args, api, token)


def cmd_infer(args: argparse.Namespace) -> int:
    api = _client(args)
    token, _ = client.infer(api, args.uri, full=args.full, datasource_id=args.datasource)
    return _started(args, api, token)


def cmd_preview(args: argparse.Namespace) -> int:
    reply = client.preview(_client(args), args.path, limit=args.limit)
    table = client.preview_table(reply)
    if args.json:
        print(json.dumps(table.to_pylist(), default=str, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    view = Table(*table.column_names)
    for row in table.to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    console = Console(highlight=False)
    console.print(view)
    stats = reply.stats
    total = f"~{stats.total_rows}" if stats.total_rows_estimated else str(stats.total_rows)
    console.print(f"{table.num_rows} of {total} rows")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    if args.plan is not None:
        if args.dataset or args.filter or args.group_by or args.agg or args.order_by or args.limit:
            raise ValueError("give a plan file or plan flags (--dataset …), not both")
        plan = client.message_from(client.load_document(args.plan), query_pb2.Plan(), str(args.plan))
    elif args.dataset:
        plan = client.plan_from_flags(args.dataset, args.filter, args.group_by, args.agg, args.order_by, args.limit)
    else:
        raise ValueError("give a plan file (JSON or YAML) or --dataset with plan flags")
    api = _client(args)
    token, _ = client.query(api, plan, datasource_id=args.datasource)
    return _started(args, api, token)


def cmd_analyze(args: argparse.Namespace) -> int:
    request = analyze_pb2.AnalyzeRequest(datasource_id=args.datasource)
    if args.request is not None:
        client.message_from(client.load_document(args.request), request, str(args.request))
    if args.frame:
        token, _, frame = args.frame.partition(":")
        request.frame_ref.token, request.frame_ref.frame = int(token), frame
    if args.plan is not None:
        client.message_from(client.load_document(args.plan), request.plan, str(args.plan))
    if args.options is not None:
        client.message_from(client.load_document(args.options), request.options, str(args.options))
    if args.kind:
        request.kind = analyze_pb2.AnalysisKind.Value(f"ANALYSIS_KIND_{args.kind.upper()}")  # type: ignore[assignment]
    api = _client(args)
    token, _ = client.analyze(api, request)
    return _started(args, api, token)


def cmd_jobs(args: argparse.Namespace) -> int:
    jobs = client.list_jobs(
        _client(args), statuses=args.status, kind=args.kind, datasource_id=args.datasource, limit=args.limit
    )
    if args.json:
        print(json.dumps([json.loads(client.to_json(job)) for job in jobs], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    view = Table("token", "kind", "status", "datasource", "created", "queue")
    for job in jobs:
        view.add_row(
            str(job.token),
            _short(job_pb2.JobKind, job.kind),
            _short(job_pb2.JobStatus, job.status),
            job.datasource_id,
            job.created_at.ToDatetime().isoformat(timespec="seconds") + "Z",
            job.queue,
        )
    Console(highlight=False).print(view)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    status = _follow(_client(args), args.token_id, args.from_seq)
    return 0 if status == job_pb2.JOB_STATUS_COMPLETED else 1


def cmd_fetch(args: argparse.Namespace) -> int:
    rows = client.fetch_to_file(_client(args), args.token_id, args.output, args.frame)
    print(f"{rows} rows written to {args.output}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    job = client.cancel(_client(args), args.token_id)
    status = _short(job_pb2.JobStatus, job.status)
    ended = job.status in (job_pb2.JOB_STATUS_COMPLETED, job_pb2.JOB_STATUS_FAILED)
    if args.json:
        print(client.to_json(job))
    else:
        print(f"job {job.token} {status}" + (" (it had already ended: nothing to cancel)" if ended else ""))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    reply = client.info(_client(args))
    if args.json:
        print(client.to_json(reply))
        return 0
    versions = reply.versions
    print(f"airpy {versions.airpy} (python {versions.python}, duckdb {versions.duckdb}), redis {reply.redis_mode}")
    print(f"workers alive: {reply.workers_alive}")
    for q in reply.queues:
        kinds = ", ".join(q.kinds)
        print(f"  queue {q.name}: {q.workers} workers, {q.queued} queued, {q.started} started ({kinds})")
    print("jobs: " + ", ".join(f"{state} {count}" for state, count in sorted(reply.jobs_by_state.items())))
    print(f"next token: {reply.next_token}")
    return 0


def _client_parser() -> argparse.ArgumentParser:
    """The options every client command takes."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("server")
    group.add_argument("--address", help=f"host:port of the server (default: PY_LISTEN, else {client.DEFAULT_ADDRESS})")
    group.add_argument(
        "--token", help="bearer JWT (default: AIRPY_TOKEN, else minted with PY_AUTH_SECRET or PY_DATA_DIR/secret)"
    )
    group.add_argument(
        "--subject", default=DEFAULT_SUBJECT, help=f"subject of a minted token (default {DEFAULT_SUBJECT})"
    )
    group.add_argument("--timeout-s", type=float, default=60, help="deadline of each unary call (default 60)")
    group.add_argument("--tls", action="store_true", help="call over TLS, trusting the system's CAs (or --tls-ca)")
    group.add_argument("--tls-ca", type=Path, help="call over TLS, trusting this CA certificate (PEM)")
    group.add_argument("--json", action="store_true", help="print replies as JSON")
    return options


def _job_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--datasource", default="", help="datasource_id label stored on the job")
    command.add_argument("--wait", action="store_true", help="follow the job to its end (else print its token)")


def _add_client_commands(sub: Any) -> None:
    common = _client_parser()

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        command: argparse.ArgumentParser = sub.add_parser(name, help=help_text, parents=[common])
        command.set_defaults(func=func)
        return command

    discover = add("discover", cmd_discover, "start a Discover job (prints its token)")
    discover.add_argument("uri", help="dataset root under the server's base path")
    discover.add_argument("--no-recurse", action="store_true", help="do not descend into sub-folders")
    _job_options(discover)

    infer = add("infer", cmd_infer, "start an InferSchema job")
    infer.add_argument("uri")
    infer.add_argument("--full", action="store_true", help="scan every row (exact counts) instead of sampling")
    _job_options(infer)

    preview = add("preview", cmd_preview, "print the first rows of a dataset")
    preview.add_argument("path")
    preview.add_argument("--limit", type=int, default=10)

    query = add("query", cmd_query, "start a Query from a plan file (JSON or YAML) or flags")
    query.add_argument("plan", nargs="?", type=Path, help="plan file: an airpy.v1.Plan in proto JSON form")
    query.add_argument("--dataset", help="plan from flags: the dataset to read")
    query.add_argument("--filter", action="append", default=[], help="COLUMN OP VALUE, e.g. 'kwh>2' (repeatable)")
    query.add_argument("--group-by", action="append", default=[], help="group-by column (repeatable)")
    query.add_argument("--agg", action="append", default=[], help="COLUMN:FN, e.g. kwh:sum; `count` alone counts rows")
    query.add_argument("--order-by", action="append", default=[], help="column, -column for descending (repeatable)")
    query.add_argument("--limit", type=int, default=0)
    query.add_argument(
        "--output", "-o", type=Path, help="wait, then write the result here (.arrows .arrow .feather .parquet .csv)"
    )
    _job_options(query)

    analyze = add("analyze", cmd_analyze, "start an Analyze job over a frame or a plan")
    analyze.add_argument("--kind", choices=["eda", "profile", "validation", "anomaly", "forecast", "insights"])
    analyze.add_argument("--frame", help="TOKEN or TOKEN:FRAME of an earlier job's frame")
    analyze.add_argument("--plan", type=Path, help="plan file whose result is analyzed")
    analyze.add_argument("--options", type=Path, help="AnalyzeOptions file (JSON or YAML): rules, columns …")
    analyze.add_argument("--request", type=Path, help="a whole AnalyzeRequest file; the flags above override it")
    _job_options(analyze)

    jobs = add("jobs", cmd_jobs, "list your jobs, newest first")
    jobs.add_argument(
        "--status", action="append", default=[], choices=["queued", "running", "completed", "failed", "cancelled"]
    )
    jobs.add_argument("--kind", default="", choices=["", "discover", "infer_schema", "query", "analyze", "upload"])
    jobs.add_argument("--datasource", default="")
    jobs.add_argument("--limit", type=int, default=50)

    watch = add("watch", cmd_watch, "follow a job with a live progress bar; exit 0 when it completed")
    watch.add_argument("token_id", metavar="TOKEN", type=int)
    watch.add_argument("--from-seq", type=int, default=0)

    fetch = add("fetch", cmd_fetch, "write a job's frame to a file (.arrows .arrow .feather .parquet .csv)")
    fetch.add_argument("token_id", metavar="TOKEN", type=int)
    fetch.add_argument("output", type=Path)
    fetch.add_argument("--frame", default="", help="frame name (default result)")

    cancel = add("cancel", cmd_cancel, "cancel a queued or running job")
    cancel.add_argument("token_id", metavar="TOKEN", type=int)

    add("info", cmd_info, "versions, workers per queue, jobs by state")


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

    token = sub.add_parser("token", help="print a bearer token (JWT) for grpcurl and debugging")
    token.add_argument("--subject", default=DEFAULT_SUBJECT, help=f"JWT subject (default {DEFAULT_SUBJECT})")
    token.add_argument("--ttl-s", type=int, default=12 * 3600, help="lifetime in seconds (default 12 h)")
    token.set_defaults(func=cmd_token)

    sample = sub.add_parser("sample", help="write the sample dataset under PY_BASE_PATH/sample")
    sample.add_argument("--force", action="store_true", help="rewrite it when it exists")
    sample.set_defaults(func=cmd_sample)
    _add_client_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
