"""The client commands of `airpy`, for a running server (discover | infer | preview | query |
analyze | jobs | watch | fetch | cancel | info): they parse arguments and print; the calls are in
airpy/client.py."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from airpy import client, client_frames
from airpy.auth import DEFAULT_SUBJECT, mint
from airpy.config import Settings, SettingsError, default_of
from airpy.v1 import analyze_pb2, job_pb2, query_pb2


def read_settings(*, create_secret: bool = True) -> Settings:
    """The settings, or exit 2 naming the bad one."""
    try:
        return Settings.from_env(create_secret=create_secret)
    except SettingsError as exc:
        print(f"airpy: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _client(args: argparse.Namespace) -> client.Client:
    """A client of the server at --address (default: PY_LISTEN) with --token or one minted here."""
    token = args.token or os.environ.get("AIRPY_TOKEN", "")
    if not token:
        settings = read_settings(create_secret=False)
        if settings.auth_secret:
            token = mint(settings.auth_secret, args.subject, 3600, settings.auth_audience)
        else:  # only a server with PY_AUTH_DISABLED will answer
            print(
                f"airpy {args.command}: no token (no --token, AIRPY_TOKEN, PY_AUTH_SECRET or "
                f"{settings.data_dir / 'secret'}): calling without one",
                file=sys.stderr,
            )
    address = args.address or client.client_address(read_settings(create_secret=False).listen)
    return client.connect(address, token, args.timeout_s, tls=args.tls, ca_file=args.tls_ca)


def _started(args: argparse.Namespace, api: client.Client, token: int) -> int:
    """What a job-starting command prints: the token alone (for scripts), or the job followed to its end."""
    if not (args.wait or getattr(args, "output", None)):
        print(token)
        return 0
    if _follow(api, token) != job_pb2.JOB_STATUS_COMPLETED:  # from the start: a cached job has ended already
        return 1
    job = client.get_job(api, token)
    if getattr(args, "output", None):
        rows = client_frames.fetch_to_file(api, token, args.output)
        print(f"{rows} rows written to {args.output}")
    if args.json:
        print(client.to_json(job))
    else:
        for line in client.summary(job):
            print(line)
    return 0


def _short(enum: Any, value: int) -> str:
    """A job status or kind as people read it: JOB_STATUS_COMPLETED -> completed."""
    name: str = enum.Name(value)
    return name.split("_", 2)[2].lower()


def _choices(enum: Any) -> list[str]:
    """The short names of a proto enum's values (ANALYSIS_KIND_EDA -> eda), without UNSPECIFIED."""
    return [_short(enum, number) for name, number in enum.items() if not name.endswith("_UNSPECIFIED")]


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
        bar = progress.add_task("connecting", total=1.0, token=token)
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
    rows = client_frames.fetch_to_file(
        _client(args), args.token_id, args.output, args.frame, via=args.via, stdout_format=args.format
    )
    # Standard output carries the frame itself: the count goes to standard error then.
    if str(args.output) == "-":
        print(f"{rows} rows written to standard output", file=sys.stderr)
    else:
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
    group.add_argument(
        "--address", help=f"host:port of the server (default: PY_LISTEN, else {default_of('PY_LISTEN')})"
    )
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


def add_client_commands(sub: Any) -> None:
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
    query.add_argument("plan", nargs="?", type=Path, help="plan file: an airpy.v1.Plan in proto JSON or YAML form")
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
    analyze.add_argument("--kind", choices=_choices(analyze_pb2.AnalysisKind))
    analyze.add_argument("--frame", help="TOKEN or TOKEN:FRAME of an earlier job's frame")
    analyze.add_argument("--plan", type=Path, help="plan file whose result is analyzed")
    analyze.add_argument("--options", type=Path, help="AnalyzeOptions file (JSON or YAML): rules, columns …")
    analyze.add_argument("--request", type=Path, help="a whole AnalyzeRequest file; the flags above override it")
    _job_options(analyze)

    jobs = add("jobs", cmd_jobs, "list your jobs, newest first")
    jobs.add_argument("--status", action="append", default=[], choices=_choices(job_pb2.JobStatus))
    jobs.add_argument("--kind", default="", choices=["", *_choices(job_pb2.JobKind)])
    jobs.add_argument("--datasource", default="")
    jobs.add_argument("--limit", type=int, default=50)

    watch = add("watch", cmd_watch, "follow a job with a live progress bar; exit 0 when it completed")
    watch.add_argument("token_id", metavar="TOKEN", type=int)
    watch.add_argument("--from-seq", type=int, default=0)

    fetch = add("fetch", cmd_fetch, "write a job's frame to a file (.arrows .arrow .feather .parquet .csv)")
    fetch.add_argument("token_id", metavar="TOKEN", type=int)
    fetch.add_argument("output", type=Path, help="a file (its extension names the format), or - for standard output")
    fetch.add_argument("--frame", default="", help="frame name (default result)")
    fetch.add_argument(
        "--format", choices=("arrows", "csv"), default="arrows", help="format of standard output (default arrows)"
    )
    fetch.add_argument(
        "--via",
        choices=("auto", "flight", "grpc"),
        default="auto",
        help="Arrow Flight, or FetchResult over the airpy.v1 API (default: Flight when the server offers it)",
    )

    cancel = add("cancel", cmd_cancel, "cancel a queued or running job")
    cancel.add_argument("token_id", metavar="TOKEN", type=int)

    add("info", cmd_info, "versions, workers per queue, jobs by state")
