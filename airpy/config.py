"""Settings: one frozen value built once from the environment.

Nothing else in airpy reads `os.environ`. Every variable is declared once in
`SPECS` (name, default, meaning, parser); the README's configuration table is
checked against it by a test. A bad value stops start-up with a `SettingsError`
naming the variable.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from airpy.objectstore import ObjectUrl

DEFAULT_ALLOWED_EXT = (
    ".csv",
    ".tsv",
    ".parquet",
    ".jsonl",
    ".ndjson",
    ".arrow",
    ".feather",
    ".csv.gz",
    ".tsv.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".csv.zst",
    ".tsv.zst",
    ".jsonl.zst",
    ".ndjson.zst",
)

# Queues, fastest work first. One worker process serves exactly one queue.
QUEUES = ("interactive", "batch")
# Job kinds, as named in settings (the job system's JobKind values).
JOB_KINDS = ("discover", "infer_schema", "query", "analyze", "upload")


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


def _int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise ValueError(f"must be {bound}, got {value}")
        return value

    return parse


def _float(lo: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if value < lo:
            raise ValueError(f"must be at least {lo}, got {value}")
        return value

    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _str(raw: str) -> str:
    return raw.strip()


def _path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("must not be empty")
    return Path(raw.strip()).expanduser()


def _location(raw: str) -> Path | ObjectUrl:
    return ObjectUrl.parse(raw.strip()) if raw.strip().startswith("s3://") else _path(raw)


def _optional_location(raw: str) -> Path | ObjectUrl | None:
    return _location(raw) if raw.strip() else None


def _inside(inner: Path | ObjectUrl | None, outer: Path | ObjectUrl) -> bool:
    """Whether a bucket prefix lies inside (or is) another."""
    if not isinstance(inner, ObjectUrl) or not isinstance(outer, ObjectUrl) or inner.bucket != outer.bucket:
        return False
    return not outer.prefix or (inner.prefix + "/").startswith(outer.prefix + "/")


def _listen(raw: str) -> str:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {raw!r}")
    return raw.strip()


def _optional_listen(raw: str) -> str:
    return _listen(raw) if raw.strip() else ""


def _extensions(raw: str) -> tuple[str, ...]:
    items = [e.strip().lower() for e in raw.replace(";", ",").split(",") if e.strip()]
    if not items:
        raise ValueError("must list at least one extension")
    for ext in items:
        if not ext.startswith(".") or "/" in ext:
            raise ValueError(f"extensions start with a dot, got {ext!r}")
    return tuple(items)


def _queues(raw: str) -> tuple[str, ...]:
    names = tuple(q.strip() for q in raw.split(",") if q.strip())
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {unknown[0]!r}; queues are {', '.join(QUEUES)}")
    return names


def _kind_timeouts(raw: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        kind, sep, seconds = item.partition("=")
        kind = kind.strip()
        if not sep or kind not in JOB_KINDS:
            raise ValueError(f"expected kind=seconds with a kind from {', '.join(JOB_KINDS)}, got {item!r}")
        result[kind] = _int(1)(seconds)
    return result


def _redis_url(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"expected redis://, rediss:// or unix:// URL, got {value!r}")
    return value


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected {', '.join(choices[:-1])} or {choices[-1]}, got {raw!r}")
        return value

    return parse


_log_format = _one_of("auto", "json", "text")


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return value


@dataclass(frozen=True)
class Spec:
    """One environment variable: the Settings attribute it fills, its default and meaning."""

    env: str
    attr: str
    default: str
    meaning: str
    parse: Callable[[str], Any]


SPECS: tuple[Spec, ...] = (
    Spec(
        "PY_AUTH_SECRET",
        "auth_secret",
        "",
        "HS256 key for bearer JWTs; unset in embedded mode = random 32 bytes kept in PY_DATA_DIR; "
        "required (≥ 32 bytes) when REDIS_URL is set",
        _str,
    ),
    Spec(
        "PY_AUTH_PREVIOUS_SECRET",
        "auth_previous_secret",
        "",
        "a second HS256 key still accepted, for rotating PY_AUTH_SECRET without downtime",
        _str,
    ),
    Spec(
        "PY_AUTH_DISABLED",
        "auth_disabled",
        "false",
        "serve without authentication (explicit opt-in; logs a warning)",
        _bool,
    ),
    Spec("PY_AUTH_AUDIENCE", "auth_audience", "", "required `aud` claim, when set", _str),
    Spec("PY_MAX_ROWS_JSON", "max_rows_json", "50000", "most rows returned as JSON", _int(1)),
    Spec("PY_INFER_ROWS", "infer_rows", "20000", "rows sampled per file by InferSchema", _int(1)),
    Spec(
        "PY_BASE_PATH",
        "base_path",
        "./data",
        "root of all datasets: a folder, or s3://bucket/prefix (an S3-compatible store)",
        _location,
    ),
    Spec("PY_MEMORY_MB", "memory_mb", "2048", "memory per job (DuckDB limit and caps)", _int(64)),
    Spec("PY_DUCKDB_THREADS", "duckdb_threads", "0", "DuckDB threads per query (0 = one per core)", _int(0)),
    Spec("PY_WORKERS", "workers", "2", "worker processes started by `airpy serve` (0 = server only)", _int(0)),
    Spec(
        "PY_WARM_QUEUES",
        "warm_queues",
        "interactive",
        "queues whose workers run jobs in their own process, warm, instead of forking per job",
        _queues,
    ),
    Spec(
        "PY_WARM_RECYCLE_MB",
        "warm_recycle_mb",
        "0",
        "a warm worker restarts after a job once its RSS passes this (0 = PY_MEMORY_MB + 1024)",
        _int(0),
    ),
    Spec("REDIS_URL", "redis_url", "", "external Redis; unset = embedded Redis", _redis_url),
    Spec("PY_LISTEN", "listen", "127.0.0.1:50051", "gRPC address (port 0 picks a free port)", _listen),
    Spec(
        "PY_METRICS_LISTEN",
        "metrics_listen",
        "",
        "Prometheus /metrics HTTP address, e.g. 0.0.0.0:9464 (empty = off)",
        _optional_listen,
    ),
    Spec("PY_DATA_DIR", "data_dir", "./.airpy", "embedded Redis files, results store, secret", _path),
    Spec("PY_JOB_TTL_S", "job_ttl_s", "86400", "job record and frame lifetime", _int(1)),
    Spec("PY_JOB_TIMEOUT_S", "job_timeout_s", "90", "default per-job time limit", _int(1)),
    Spec(
        "PY_MAX_JOB_TIMEOUT_S",
        "max_job_timeout_s",
        "3600",
        "largest time limit a request may ask for",
        _int(1),
    ),
    Spec(
        "PY_KIND_TIMEOUTS_S",
        "kind_timeouts_s",
        "",
        "per-kind default time limits, e.g. `infer_schema=600,analyze=300` (others: PY_JOB_TIMEOUT_S)",
        _kind_timeouts,
    ),
    Spec(
        "PY_ALLOWED_EXT",
        "allowed_ext",
        ",".join(DEFAULT_ALLOWED_EXT),
        "extension allowlist (comma-separated)",
        _extensions,
    ),
    Spec(
        "PY_RESULTS_DIR",
        "results_dir",
        "",
        "results store shared by server and workers: a folder or s3://bucket/prefix; unset = PY_DATA_DIR/results",
        _optional_location,
    ),
    Spec(
        "PY_S3_ENDPOINT",
        "s3_endpoint",
        "",
        "S3-compatible endpoint for s3:// locations, e.g. http://minio:9000 (empty = AWS); "
        "credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the instance role",
        _str,
    ),
    Spec("PY_S3_REGION", "s3_region", "us-east-1", "region of the s3:// buckets", _str),
    Spec(
        "PY_JOB_MAX_ATTEMPTS",
        "job_max_attempts",
        "2",
        "runs of a job, counting retries after a lost worker or a transient error",
        _int(1, 10),
    ),
    Spec(
        "PY_LEASE_S",
        "lease_s",
        "10",
        "a running job whose worker has not renewed its lease for this long is lost",
        _float(0.5),
    ),
    Spec("PY_REAPER_PERIOD_S", "reaper_period_s", "2", "how often lost jobs are looked for", _float(0.1)),
    Spec(
        "PY_CANCEL_GRACE_S",
        "cancel_grace_s",
        "5",
        "time a cancelled or timed-out job gets to stop before its process is killed",
        _float(0.1),
    ),
    Spec("PY_QUEUE_TIMEOUT_S", "queue_timeout_s", "3600", "a job queued longer fails with TIMEOUT", _int(1)),
    Spec("PY_MAX_QUEUED_JOBS", "max_queued_jobs", "1000", "queued jobs per caller before RESOURCE_CAP", _int(1)),
    Spec(
        "PY_GETJOB_MAX_BYTES",
        "getjob_max_bytes",
        "1048576",
        "byte cap of a GetJob reply; longer lists are truncated with a flag",
        _int(4096, 3 * 1024 * 1024),
    ),
    Spec(
        "PY_FETCH_CHUNK_BYTES",
        "fetch_chunk_bytes",
        "1048576",
        "bytes per FetchResult message",
        _int(1024, 3 * 1024 * 1024),
    ),
    Spec(
        "PY_MAX_MESSAGE_BYTES",
        "max_message_bytes",
        "8388608",
        "largest gRPC message received or sent",
        _int(64 * 1024),
    ),
    Spec("PY_MAX_UPLOAD_BYTES", "max_upload_bytes", "1073741824", "largest UploadFrame stream", _int(1024)),
    Spec(
        "PY_MAX_INLINE_FRAME_BYTES",
        "max_inline_frame_bytes",
        "4194304",
        "largest frame sent inline in AnalyzeRequest.arrow_ipc (use UploadFrame above)",
        _int(1024),
    ),
    Spec("PY_MAX_ANALYZE_ROWS", "max_analyze_rows", "20000000", "most rows of a frame Analyze takes on", _int(1)),
    Spec(
        "OPENAI_BASE_URL",
        "openai_base_url",
        "",
        "OpenAI-compatible endpoint for insights (unset = insights not configured)",
        _str,
    ),
    Spec("OPENAI_API_KEY", "openai_api_key", "", "key for that endpoint", _str),
    Spec("PY_LLM_MODEL", "llm_model", "gpt-4o-mini", "model asked for insights", _str),
    Spec("PY_LLM_TIMEOUT_S", "llm_timeout_s", "60", "time one insights request may take", _float(1)),
    Spec(
        "PY_LLM_RESPONSE_FORMAT",
        "llm_response_format",
        "json_schema",
        "how the answer's form is asked for: json_schema, json_object (older servers) or none",
        _one_of("json_schema", "json_object", "none"),
    ),
    Spec(
        "PY_LLM_MAX_SAMPLE_ROWS",
        "llm_max_sample_rows",
        "20",
        "most rows of a frame the model may see (aggregates only beyond)",
        _int(0),
    ),
    Spec(
        "PY_QUERY_CACHE",
        "query_cache",
        "true",
        "answer a query from an earlier job with the same plan and output over unchanged files",
        _bool,
    ),
    Spec("PY_PREVIEW_MAX_ROWS", "preview_max_rows", "1000", "most rows Preview returns", _int(1)),
    Spec("PY_DISCOVER_MAX_FILES", "discover_max_files", "100000", "most files one Discover lists", _int(1)),
    Spec(
        "PY_SHUTDOWN_GRACE_S",
        "shutdown_grace_s",
        "10",
        "time running calls and streams get to finish on SIGTERM",
        _float(0),
    ),
    Spec("PY_TLS_CERT", "tls_cert", "", "server certificate (PEM) to serve TLS", _str),
    Spec("PY_TLS_KEY", "tls_key", "", "server private key (PEM)", _str),
    Spec(
        "PY_TLS_CLIENT_CA",
        "tls_client_ca",
        "",
        "CA (PEM) that client certificates must chain to (mutual TLS)",
        _str,
    ),
    Spec("PY_LOG_FORMAT", "log_format", "auto", "json, text, or auto (text on a terminal)", _log_format),
    Spec("PY_LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR", _log_level),
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, read once by `from_env`."""

    auth_secret: str
    auth_previous_secret: str
    auth_disabled: bool
    auth_audience: str
    max_rows_json: int
    infer_rows: int
    base_path: Path | ObjectUrl
    memory_mb: int
    duckdb_threads: int
    workers: int
    warm_queues: tuple[str, ...]
    warm_recycle_mb: int
    redis_url: str | None
    listen: str
    metrics_listen: str
    data_dir: Path
    job_ttl_s: int
    job_timeout_s: int
    max_job_timeout_s: int
    kind_timeouts_s: dict[str, int]
    allowed_ext: tuple[str, ...]
    results_dir: Path | ObjectUrl | None
    s3_endpoint: str
    s3_region: str
    job_max_attempts: int
    lease_s: float
    reaper_period_s: float
    cancel_grace_s: float
    queue_timeout_s: int
    max_queued_jobs: int
    getjob_max_bytes: int
    fetch_chunk_bytes: int
    max_message_bytes: int
    max_upload_bytes: int
    max_inline_frame_bytes: int
    max_analyze_rows: int
    openai_base_url: str
    openai_api_key: str
    llm_model: str
    llm_timeout_s: float
    llm_response_format: str
    llm_max_sample_rows: int
    query_cache: bool
    preview_max_rows: int
    discover_max_files: int
    shutdown_grace_s: float
    tls_cert: str
    tls_key: str
    tls_client_ca: str
    log_format: str
    log_level: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, create_secret: bool = True) -> Settings:
        """Build the settings from `env` (default: the process environment).

        Raises SettingsError naming the first variable with a bad value. In embedded
        mode without PY_AUTH_SECRET, the secret is read from PY_DATA_DIR, and created
        there unless create_secret is False (then auth_secret stays empty when missing).
        """
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in SPECS:
            raw = source.get(spec.env)
            if raw is None:
                raw = spec.default
            try:
                values[spec.attr] = spec.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{spec.env}: {exc}") from None
        settings = cls(**values)
        settings._check()
        if not settings.auth_secret and settings.embedded and not settings.auth_disabled:
            settings = _replace(settings, auth_secret=_embedded_secret(settings.data_dir, create=create_secret))
        return settings

    def _check(self) -> None:
        if self.redis_url and not self.auth_disabled and len(self.auth_secret.encode()) < 32:
            raise SettingsError(
                "PY_AUTH_SECRET: required and at least 32 bytes long when REDIS_URL is set "
                "(or set PY_AUTH_DISABLED=true to serve without authentication)"
            )
        if self.auth_secret and len(self.auth_secret.encode()) < 32:
            raise SettingsError("PY_AUTH_SECRET: must be at least 32 bytes long")
        if self.auth_previous_secret and len(self.auth_previous_secret.encode()) < 32:
            raise SettingsError("PY_AUTH_PREVIOUS_SECRET: must be at least 32 bytes long")
        if self.job_timeout_s > self.max_job_timeout_s:
            raise SettingsError("PY_JOB_TIMEOUT_S: must not exceed PY_MAX_JOB_TIMEOUT_S")
        if any(v > self.max_job_timeout_s for v in self.kind_timeouts_s.values()):
            raise SettingsError("PY_KIND_TIMEOUTS_S: a limit exceeds PY_MAX_JOB_TIMEOUT_S")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("PY_TLS_KEY: PY_TLS_CERT and PY_TLS_KEY go together")
        if self.tls_client_ca and not self.tls_cert:
            raise SettingsError("PY_TLS_CLIENT_CA: mutual TLS needs PY_TLS_CERT and PY_TLS_KEY")
        for env, value in (("PY_TLS_CERT", self.tls_cert), ("PY_TLS_KEY", self.tls_key)):
            if value and not Path(value).is_file():
                raise SettingsError(f"{env}: no such file: {value}")
        if _inside(self.results_dir, self.base_path):
            raise SettingsError("PY_RESULTS_DIR: must not lie inside PY_BASE_PATH (frames are not datasets)")
        if self.tls_client_ca and not Path(self.tls_client_ca).is_file():
            raise SettingsError(f"PY_TLS_CLIENT_CA: no such file: {self.tls_client_ca}")

    @property
    def embedded(self) -> bool:
        """True when airpy starts its own Redis (no REDIS_URL)."""
        return self.redis_url is None

    @property
    def results_path(self) -> Path | ObjectUrl:
        return self.data_dir / "results" if self.results_dir is None else self.results_dir

    @property
    def spool_dir(self) -> Path:
        """Where frames bound for an object store are written before their upload."""
        return self.data_dir / "spool"

    @property
    def uses_object_store(self) -> bool:
        return isinstance(self.base_path, ObjectUrl) or isinstance(self.results_path, ObjectUrl)

    @property
    def spill_dir(self) -> Path:
        """Where DuckDB spills work larger than memory."""
        return self.data_dir / "spill"

    @property
    def embedded_redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def embedded_redis_socket(self) -> Path:
        """Unix socket of the embedded Redis, kept short enough for the 107-byte socket path limit."""
        preferred = (self.embedded_redis_dir / "redis.sock").resolve()
        if len(str(preferred)) < 100:
            return preferred
        digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:16]
        return Path("/tmp") / f"airpy-{digest}.sock"  # noqa: S108 - fixed, per-data-dir name

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    def default_timeout_s(self, kind: str) -> int:
        """The time limit of a job of this kind when the request names none."""
        return self.kind_timeouts_s.get(kind, self.job_timeout_s)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some attributes changed (tests, and the resolved embedded Redis URL)."""
        return _replace(self, **changes)


def _replace(settings: Settings, **changes: Any) -> Settings:
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    values.update(changes)
    return Settings(**values)


def _embedded_secret(data_dir: Path, *, create: bool = True) -> str:
    """The embedded mode's HS256 key: 32 random bytes (hex) kept in data_dir/secret, mode 0600."""
    path = data_dir / "secret"
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise SettingsError(f"PY_DATA_DIR: cannot read {path}: {exc.strerror}") from None
    if len(existing) >= 32 or not create:
        return existing
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()  # another process created it first
    except OSError as exc:
        raise SettingsError(f"PY_DATA_DIR: cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
        handle.flush()
        os.fsync(handle.fileno())
    return secret
