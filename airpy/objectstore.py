"""S3-compatible object storage for datasets (PY_BASE_PATH=s3://…) and frames (PY_RESULTS_DIR=s3://…).

Objects are read and written through `pyarrow.fs.S3FileSystem`. DuckDB cannot download its
`httpfs` extension here, so the same filesystem is registered with every DuckDB database as an
fsspec filesystem under its own scheme, `airpys3://bucket/key`: DuckDB then reads objects by
ranges like files, and an `s3://` string can never reach a DuckDB extension.

Endpoint and region come from PY_S3_ENDPOINT and PY_S3_REGION; credentials from the standard
AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the instance role,
as the AWS SDK finds them. One filesystem per process (made on first use, again after a fork).
"""

from __future__ import annotations

import os
import posixpath
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import pyarrow.fs as pafs

    from airpy.errors import IOFailure

#: How DuckDB and airpy's readers name an object: airpys3://bucket/key.
SCHEME = "airpys3"
_PREFIX = f"{SCHEME}://"


@dataclass(frozen=True)
class ObjectUrl:
    """A bucket and a key prefix ("" = the whole bucket), parsed from s3://bucket/prefix."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, raw: str) -> ObjectUrl:
        """Raises ValueError unless `raw` is s3://bucket[/prefix] with a plain key prefix."""
        if not raw.startswith("s3://"):
            raise ValueError(f"expected s3://bucket/prefix, got {raw!r}")
        bucket, _, prefix = raw[len("s3://") :].partition("/")
        prefix = prefix.rstrip("/")
        if not plain_key(f"{bucket}/{prefix}" if prefix else bucket) or "#" in raw:
            raise ValueError(f"expected s3://bucket/prefix with a plain key prefix, got {raw!r}")
        return cls(bucket, prefix)

    def key(self, rel: str = "") -> str:
        """bucket/prefix/rel, as pyarrow.fs names objects."""
        return posixpath.join(self.bucket, self.prefix, rel).rstrip("/") if rel or self.prefix else self.bucket

    def __str__(self) -> str:
        return f"s3://{self.key()}"


def is_object(location: str) -> bool:
    return location.startswith(_PREFIX)


def location_of(key: str) -> str:
    """The name readers and DuckDB use for the object bucket/key."""
    return _PREFIX + key


def key_of(location: str) -> str:
    return location[len(_PREFIX) :] if is_object(location) else location


@dataclass(frozen=True)
class S3Options:
    endpoint: str
    region: str


class _Process:
    """The object store of this process: set once its settings are read."""

    options: S3Options | None = None
    filesystems: dict[int, pafs.S3FileSystem] = {}
    lock = threading.Lock()


def configure(endpoint: str, region: str) -> None:
    """Set the endpoint this process's filesystem uses (called once the settings are read)."""
    with _Process.lock:
        options = S3Options(endpoint, region)
        if options != _Process.options:
            _Process.options = options
            _Process.filesystems.clear()


def configured() -> bool:
    """Whether this process uses an object store (PY_BASE_PATH or PY_RESULTS_DIR is s3://…)."""
    return _Process.options is not None


def filesystem() -> pafs.S3FileSystem:
    """This process's S3 filesystem (made on first use, again after a fork)."""
    import pyarrow.fs as pafs

    pid = os.getpid()
    with _Process.lock:
        fs = _Process.filesystems.get(pid)
        if fs is None:
            options = _Process.options or S3Options("", "us-east-1")
            kwargs: dict[str, Any] = {"region": options.region or "us-east-1"}
            if options.endpoint:
                kwargs["endpoint_override"] = options.endpoint
            fs = _Process.filesystems[pid] = pafs.S3FileSystem(**kwargs)
        return fs


def missing(exc: OSError) -> bool:
    """Whether a failed call says the object does not exist (pyarrow raises a plain OSError)."""
    return isinstance(exc, FileNotFoundError) or "NO_SUCH_KEY" in str(exc) or "does not exist" in str(exc)


def failure(doing: str, exc: OSError, store: str) -> IOFailure:
    """The error for a failed call to the store: a refusal (credentials, permissions, no such
    bucket) is IO_ERROR; anything else (network, throttling, a 5xx) may pass, so it is transient."""
    from airpy.errors import IOFailure, TransientIOFailure

    text = str(exc)
    refused = any(word in text for word in ("ACCESS_DENIED", "NO_SUCH_BUCKET", "INVALID_ACCESS_KEY", "403"))
    kind = IOFailure if refused else TransientIOFailure
    first = text.splitlines()[0] if text else exc.__class__.__name__
    return kind(f"{doing} failed: {first}", metadata={"store": store})


def plain_key(key: str) -> bool:
    """A key every reader takes literally: no empty, `.` or `..` segment (the AWS SDK collapses
    `..` on the client, which would reach another key or bucket) and no glob character (DuckDB
    expands every path it is given)."""
    return (
        bool(key)
        and all(part not in ("", ".", "..") for part in key.split("/"))
        and not any(c in key for c in EXPANDED | {"\\", "\x00"})
    )


#: Characters DuckDB expands as a glob in any path it is given: names holding them are never read.
EXPANDED = frozenset("*?[]{}")


def checked_key(location: str) -> str:
    """The key of an airpys3:// location; ValueError for a key no reader may be given."""
    key = key_of(location)
    if not plain_key(key):
        raise ValueError(f"refusing to read the object name {location!r}")
    return key


def open_input(location: str) -> pa.NativeFile:
    """A random-access reader of a local file or an object (by its airpys3:// location)."""
    if is_object(location):
        return filesystem().open_input_file(checked_key(location))
    import pyarrow as pa

    return pa.OSFile(location, "rb")


def open_mapped(location: str) -> pa.NativeFile:
    """Like open_input, memory-mapping a local file (Arrow reads it without copying)."""
    import pyarrow as pa

    return open_input(location) if is_object(location) else pa.memory_map(location)


def preload() -> None:
    """Import what `register_with` imports (fsspec's Arrow wrapper, ~70 ms), in a worker before it
    serves: a forking worker's horses inherit it instead of each importing it for its first DuckDB."""
    if configured():
        import fsspec.implementations.arrow  # noqa: F401
        import pyarrow.fs  # noqa: F401


def register_with(database: duckdb.DuckDBPyConnection) -> None:
    """Let DuckDB read airpys3:// locations through this process's filesystem."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class _DuckFS(ArrowFSWrapper):  # type: ignore[misc]
        protocol = SCHEME

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any:
            # fsspec's default would read the bucket as a host name and drop it.
            if isinstance(path, list):
                return [cls._strip_protocol(p) for p in path]
            return checked_key(str(path))

        def unstrip_protocol(self, name: str) -> str:
            return location_of(name)

        def glob(self, path: str, **kwargs: Any) -> list[str]:
            # airpy hands DuckDB the exact objects it listed (never a key with a glob character):
            # nothing is expanded, and no request is spent looking first.
            return [self._strip_protocol(path)]  # DuckDB puts the scheme back

    database.register_filesystem(_DuckFS(filesystem()))
