"""Settings: one frozen value built once from the environment.

Nothing else in airpy reads `os.environ`. Every variable is declared once, as a field of
`Settings` (its name, default, meaning and parser in the field's metadata, `setting(...)`);
`SPECS` lists them in that order and the README's configuration table is checked against it
by a test. A bad value stops start-up with a `SettingsError` naming the variable. The value
parsers are in `airpy.envparse`. Long because every setting is declared here, each once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airpy import envparse
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


@dataclass(frozen=True)
class RedisTarget:
    """What to connect to: a URL, or sentinels that name the master of a failover pair."""

    url: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    password: str | None = None
    sentinel_password: str | None = None
    db: int = 0

    @property
    def label(self) -> str:
        """For logs: where Redis is, without passwords."""
        if self.sentinels:
            return f"sentinel {self.master} at " + ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return self.url.split("@")[-1]


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


@dataclass(frozen=True)
class Spec:
    """One environment variable: the Settings attribute it fills, its default and meaning."""

    env: str
    attr: str
    default: str
    meaning: str
    parse: Callable[[str], Any]


_SPEC = "airpy.setting"


def setting(env: str, default: str, meaning: str, parse: Callable[[str], Any]) -> Any:
    """Declare a Settings field as the environment variable `env` (parsed from `default` when unset)."""
    return dataclasses.field(metadata={_SPEC: Spec(env, "", default, meaning, parse)})


@dataclass(frozen=True)
class Settings:
    """Everything configurable, read once by `from_env`; one field per environment variable."""

    auth_secret: str = setting(
        "PY_AUTH_SECRET",
        "",
        "HS256 key for bearer JWTs; unset in embedded mode = random 32 bytes kept in PY_DATA_DIR; "
        "required (≥ 32 bytes) when REDIS_URL is set",
        envparse.text,
    )
    auth_previous_secret: str = setting(
        "PY_AUTH_PREVIOUS_SECRET",
        "",
        "a second HS256 key still accepted, for rotating PY_AUTH_SECRET without downtime",
        envparse.text,
    )
    auth_disabled: bool = setting(
        "PY_AUTH_DISABLED", "false", "serve without authentication (explicit opt-in; logs a warning)", envparse.boolean
    )
    auth_audience: str = setting("PY_AUTH_AUDIENCE", "", "required `aud` claim, when set", envparse.text)
    auth_jwks_file: Path | None = setting(
        "PY_AUTH_JWKS_FILE",
        "",
        "public keys (JWKS, each with kid and alg: RS256, ES256, EdDSA …) that verify tokens; "
        "when set, HS256 tokens are refused (airpy then holds no key that can mint one)",
        envparse.optional_path,
    )
    auth_max_ttl_s: int = setting(
        "PY_AUTH_MAX_TTL_S",
        "86400",
        "longest token lifetime accepted (exp - iat, or exp - now without iat)",
        envparse.integer(60),
    )
    max_rows_json: int = setting("PY_MAX_ROWS_JSON", "50000", "most rows returned as JSON", envparse.integer(1))
    infer_rows: int = setting("PY_INFER_ROWS", "20000", "rows sampled per file by InferSchema", envparse.integer(1))
    base_path: Path | ObjectUrl = setting(
        "PY_BASE_PATH",
        "./data",
        "root of all datasets: a folder, or s3://bucket/prefix (an S3-compatible store)",
        envparse.location,
    )
    memory_mb: int = setting("PY_MEMORY_MB", "2048", "memory per job (DuckDB limit and caps)", envparse.integer(64))
    sync_memory_mb: int = setting(
        "PY_SYNC_MEMORY_MB",
        "512",
        "engine memory of the server's own calls (Preview, ExplainQuery checks), apart from the jobs'",
        envparse.integer(64),
    )
    progress_period_s: float = setting(
        "PY_PROGRESS_PERIOD_S",
        "0.5",
        "how often a running query's progress is read and reported as a step (when it moved a percent)",
        envparse.number(0.05),
    )
    duckdb_threads: int = setting(
        "PY_DUCKDB_THREADS", "0", "DuckDB threads per query (0 = one per core)", envparse.integer(0)
    )
    workers: int = setting(
        "PY_WORKERS", "2", "worker processes started by `airpy serve` (0 = server only)", envparse.integer(0)
    )
    warm_queues: tuple[str, ...] = setting(
        "PY_WARM_QUEUES",
        "interactive",
        "queues whose workers run jobs in their own process, warm, instead of forking per job",
        envparse.queues,
    )
    warm_recycle_mb: int = setting(
        "PY_WARM_RECYCLE_MB",
        "0",
        "a warm worker restarts after a job once its RSS passes this (0 = PY_MEMORY_MB + 1024)",
        envparse.integer(0),
    )
    redis_url: str | None = setting("REDIS_URL", "", "external Redis; unset = embedded Redis", envparse.redis_url)
    redis_sentinels: tuple[tuple[str, int], ...] = setting(
        "REDIS_SENTINELS",
        "",
        "Redis Sentinel addresses (host:port,…) of a failover pair, instead of REDIS_URL",
        envparse.host_ports,
    )
    redis_sentinel_master: str = setting(
        "REDIS_SENTINEL_MASTER", "", "the master name the sentinels monitor (with REDIS_SENTINELS)", envparse.text
    )
    redis_sentinel_password: str = setting(
        "REDIS_SENTINEL_PASSWORD", "", "password of the sentinels themselves, when they require one", envparse.text
    )
    redis_password: str = setting(
        "REDIS_PASSWORD", "", "password of the master and replicas found through REDIS_SENTINELS", envparse.text
    )
    redis_db: int = setting("REDIS_DB", "0", "database number under REDIS_SENTINELS", envparse.integer(0))
    redis_min_replicas: int | None = setting(
        "PY_REDIS_MIN_REPLICAS",
        "auto",
        "replicas that must confirm a new job before the call answers its token (auto = 1 under "
        "REDIS_SENTINELS, else 0)",
        envparse.replicas,
    )
    redis_wait_ms: int = setting(
        "PY_REDIS_WAIT_MS", "1000", "how long a new job waits for those replicas (WAIT)", envparse.integer(1)
    )
    listen: str = setting("PY_LISTEN", "127.0.0.1:50051", "gRPC address (port 0 picks a free port)", envparse.listen)
    flight_listen: str = setting(
        "PY_FLIGHT_LISTEN",
        "127.0.0.1:50052",
        "Arrow Flight address of `airpy serve` (port 0 picks a free port; empty = Flight off)",
        envparse.optional_listen,
    )
    flight_advertise: str = setting(
        "PY_FLIGHT_ADVERTISE",
        "",
        "the Flight location handed to callers (grpc://host:port, grpc+tls://… with TLS); "
        "unset = grpc(+tls):// + PY_FLIGHT_LISTEN, and with a wildcard host endpoints carry none",
        envparse.flight_location,
    )
    metrics_listen: str = setting(
        "PY_METRICS_LISTEN",
        "",
        "Prometheus /metrics HTTP address, e.g. 0.0.0.0:9464 (empty = off)",
        envparse.optional_listen,
    )
    data_dir: Path = setting("PY_DATA_DIR", "./.airpy", "embedded Redis files, results store, secret", envparse.path)
    job_ttl_s: int = setting("PY_JOB_TTL_S", "86400", "job record and frame lifetime", envparse.integer(1))
    job_timeout_s: int = setting("PY_JOB_TIMEOUT_S", "90", "default per-job time limit", envparse.integer(1))
    max_job_timeout_s: int = setting(
        "PY_MAX_JOB_TIMEOUT_S", "3600", "largest time limit a request may ask for", envparse.integer(1)
    )
    kind_timeouts_s: dict[str, int] = setting(
        "PY_KIND_TIMEOUTS_S",
        "",
        "per-kind default time limits, e.g. `infer_schema=600,analyze=300` (others: PY_JOB_TIMEOUT_S)",
        envparse.kind_timeouts,
    )
    allowed_ext: tuple[str, ...] = setting(
        "PY_ALLOWED_EXT", ",".join(DEFAULT_ALLOWED_EXT), "extension allowlist (comma-separated)", envparse.extensions
    )
    results_dir: Path | ObjectUrl | None = setting(
        "PY_RESULTS_DIR",
        "",
        "results store shared by server and workers: a folder or s3://bucket/prefix; unset = PY_DATA_DIR/results",
        envparse.optional_location,
    )
    s3_endpoint: str = setting(
        "PY_S3_ENDPOINT",
        "",
        "S3-compatible endpoint for s3:// locations, e.g. http://minio:9000 (empty = AWS); "
        "credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the instance role",
        envparse.text,
    )
    s3_region: str = setting("PY_S3_REGION", "us-east-1", "region of the s3:// buckets", envparse.text)
    job_max_attempts: int = setting(
        "PY_JOB_MAX_ATTEMPTS",
        "2",
        "runs of a job, counting retries after a lost worker or a transient error",
        envparse.integer(1, 10),
    )
    lease_s: float = setting(
        "PY_LEASE_S",
        "10",
        "a running job whose worker has not renewed its lease for this long is lost",
        envparse.number(0.5),
    )
    reaper_period_s: float = setting(
        "PY_REAPER_PERIOD_S", "2", "how often lost jobs are looked for", envparse.number(0.1)
    )
    cancel_grace_s: float = setting(
        "PY_CANCEL_GRACE_S",
        "5",
        "time a cancelled or timed-out job gets to stop before its process is killed",
        envparse.number(0.1),
    )
    queue_timeout_s: int = setting(
        "PY_QUEUE_TIMEOUT_S", "3600", "a job queued longer fails with TIMEOUT", envparse.integer(1)
    )
    max_queued_jobs: int = setting(
        "PY_MAX_QUEUED_JOBS", "1000", "queued jobs per caller before RESOURCE_CAP", envparse.integer(1)
    )
    getjob_max_bytes: int = setting(
        "PY_GETJOB_MAX_BYTES",
        "1048576",
        "byte cap of a GetJob reply; longer lists are truncated with a flag",
        envparse.integer(4096, 3 * 1024 * 1024),
    )
    fetch_chunk_bytes: int = setting(
        "PY_FETCH_CHUNK_BYTES", "1048576", "bytes per FetchResult message", envparse.integer(1024, 3 * 1024 * 1024)
    )
    frame_part_bytes: int = setting(
        "PY_FRAME_PART_BYTES",
        "67108864",
        "a frame is written in parts of about this many bytes: one Flight endpoint each",
        envparse.integer(64 * 1024),
    )
    max_message_bytes: int = setting(
        "PY_MAX_MESSAGE_BYTES", "8388608", "largest gRPC message received or sent", envparse.integer(64 * 1024)
    )
    max_upload_bytes: int = setting(
        "PY_MAX_UPLOAD_BYTES", "1073741824", "largest UploadFrame stream", envparse.integer(1024)
    )
    max_inline_frame_bytes: int = setting(
        "PY_MAX_INLINE_FRAME_BYTES",
        "4194304",
        "largest frame sent inline in AnalyzeRequest.arrow_ipc (use UploadFrame above)",
        envparse.integer(1024),
    )
    max_analyze_rows: int = setting(
        "PY_MAX_ANALYZE_ROWS", "20000000", "most rows of a frame Analyze takes on", envparse.integer(1)
    )
    openai_base_url: str = setting(
        "OPENAI_BASE_URL",
        "",
        "OpenAI-compatible endpoint for insights (unset = insights not configured)",
        envparse.text,
    )
    openai_api_key: str = setting("OPENAI_API_KEY", "", "key for that endpoint", envparse.text)
    llm_model: str = setting("PY_LLM_MODEL", "gpt-4o-mini", "model asked for insights", envparse.text)
    llm_timeout_s: float = setting("PY_LLM_TIMEOUT_S", "60", "time one insights request may take", envparse.number(1))
    llm_response_format: str = setting(
        "PY_LLM_RESPONSE_FORMAT",
        "json_schema",
        "how the answer's form is asked for: json_schema, json_object (older servers) or none",
        envparse.one_of("json_schema", "json_object", "none"),
    )
    llm_max_sample_rows: int = setting(
        "PY_LLM_MAX_SAMPLE_ROWS",
        "20",
        "most rows of a frame the model may see (aggregates only beyond)",
        envparse.integer(0),
    )
    query_cache: bool = setting(
        "PY_QUERY_CACHE",
        "true",
        "answer a query from an earlier job with the same plan and output over unchanged files",
        envparse.boolean,
    )
    preview_max_rows: int = setting("PY_PREVIEW_MAX_ROWS", "1000", "most rows Preview returns", envparse.integer(1))
    preview_max_bytes: int = setting(
        "PY_PREVIEW_MAX_BYTES",
        "3145728",
        "byte cap of a Preview reply; trailing rows are dropped to fit, with a flag",
        envparse.integer(4096, 3 * 1024 * 1024),
    )
    discover_max_files: int = setting(
        "PY_DISCOVER_MAX_FILES", "100000", "most files one Discover lists", envparse.integer(1)
    )
    max_dataset_files: int = setting(
        "PY_MAX_DATASET_FILES",
        "100000",
        "most files one dataset may hold (Preview, InferSchema, a plan's dataset or join): more is RESOURCE_CAP",
        envparse.integer(1),
    )
    max_csv_files: int = setting(
        "PY_MAX_CSV_FILES",
        "10000",
        "most files of a dataset read as CSV/TSV, which DuckDB holds open at once while reading it",
        envparse.integer(1),
    )
    shutdown_grace_s: float = setting(
        "PY_SHUTDOWN_GRACE_S", "10", "time running calls and streams get to finish on SIGTERM", envparse.number(0)
    )
    tls_cert: str = setting("PY_TLS_CERT", "", "server certificate (PEM) to serve TLS", envparse.text)
    tls_key: str = setting("PY_TLS_KEY", "", "server private key (PEM)", envparse.text)
    tls_client_ca: str = setting(
        "PY_TLS_CLIENT_CA", "", "CA (PEM) that client certificates must chain to (mutual TLS)", envparse.text
    )
    log_format: str = setting("PY_LOG_FORMAT", "auto", "json, text, or auto (text on a terminal)", envparse.log_format)
    log_level: str = setting("PY_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", envparse.log_level)

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
        if (
            not settings.auth_secret
            and settings.embedded
            and not settings.auth_disabled
            and not settings.auth_jwks_file
        ):
            settings = dataclasses.replace(
                settings, auth_secret=_embedded_secret(settings.data_dir, create=create_secret)
            )
        return settings

    def _check(self) -> None:
        if self.redis_sentinels and self.redis_url:
            raise SettingsError("REDIS_SENTINELS: set REDIS_URL or REDIS_SENTINELS, not both")
        if self.redis_sentinels and not self.redis_sentinel_master:
            raise SettingsError("REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS")
        if self.auth_jwks_file is not None and not self.auth_jwks_file.is_file():
            raise SettingsError(f"PY_AUTH_JWKS_FILE: no such file: {self.auth_jwks_file}")
        if (
            not self.embedded
            and not self.auth_disabled
            and not self.auth_jwks_file
            and len(self.auth_secret.encode()) < 32
        ):
            raise SettingsError(
                "PY_AUTH_SECRET: required and at least 32 bytes long when REDIS_URL or REDIS_SENTINELS is set "
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
        if self.flight_advertise.startswith("grpc+tls://") != bool(self.tls_cert) and self.flight_advertise:
            raise SettingsError("PY_FLIGHT_ADVERTISE: use grpc+tls:// exactly when TLS is on (PY_TLS_CERT)")
        if self.tls_client_ca and not Path(self.tls_client_ca).is_file():
            raise SettingsError(f"PY_TLS_CLIENT_CA: no such file: {self.tls_client_ca}")

    @property
    def embedded(self) -> bool:
        """True when airpy starts its own Redis (no REDIS_URL, no REDIS_SENTINELS)."""
        return self.redis_url is None and not self.redis_sentinels

    @property
    def redis_target(self) -> RedisTarget:
        """The Redis this deployment shares (REDIS_URL, the sentinels, or the embedded one's URL
        once `airpy serve` has started it)."""
        if self.redis_sentinels:
            return RedisTarget(
                sentinels=self.redis_sentinels,
                master=self.redis_sentinel_master,
                password=self.redis_password or None,
                sentinel_password=self.redis_sentinel_password or None,
                db=self.redis_db,
            )
        if not self.redis_url:
            raise ValueError("no Redis is configured yet (`airpy serve` starts the embedded one)")
        return RedisTarget(url=self.redis_url)

    @property
    def min_replicas(self) -> int:
        """Replicas that confirm a new job before its token is answered."""
        if self.redis_min_replicas is not None:
            return self.redis_min_replicas
        return 1 if self.redis_sentinels else 0

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

    @property
    def flight_scheme(self) -> str:
        return "grpc+tls" if self.tls_cert else "grpc"

    @property
    def flight_locations(self) -> list[str]:
        """Where callers reach Flight (GetServerInfo): the advertised location, else the listen
        address (a wildcard host there means: the host you reached this server at)."""
        if not self.flight_listen:
            return []
        return [self.flight_advertise or f"{self.flight_scheme}://{self.flight_listen}"]

    def default_timeout_s(self, kind: str) -> int:
        """The time limit of a job of this kind when the request names none."""
        return self.kind_timeouts_s.get(kind, self.job_timeout_s)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some attributes changed (tests, and the resolved embedded Redis URL)."""
        return dataclasses.replace(self, **changes)


def _specs() -> tuple[Spec, ...]:
    return tuple(dataclasses.replace(f.metadata[_SPEC], attr=f.name) for f in dataclasses.fields(Settings))


#: Every setting, in declaration order (the README's configuration table follows it).
SPECS = _specs()


def default_of(env: str) -> str:
    """The default text of a setting (client commands show it in their help)."""
    return next(spec.default for spec in SPECS if spec.env == env)


def _inside(inner: Path | ObjectUrl | None, outer: Path | ObjectUrl) -> bool:
    """Whether a bucket prefix lies inside (or is) another."""
    if not isinstance(inner, ObjectUrl) or not isinstance(outer, ObjectUrl) or inner.bucket != outer.bucket:
        return False
    return not outer.prefix or (inner.prefix + "/").startswith(outer.prefix + "/")


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
