"""Parsers of environment values: each takes the raw text and returns the value or raises ValueError.

`airpy.config` declares every setting with one of these; the ValueError's message is reported
after the variable's name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from airpy.kinds import QUEUES, JobKind
from airpy.objectstore import ObjectUrl


def integer(lo: int, hi: int | None = None) -> Callable[[str], int]:
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


def number(lo: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if value < lo:
            raise ValueError(f"must be at least {lo}, got {value}")
        return value

    return parse


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def text(raw: str) -> str:
    return raw.strip()


def path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("must not be empty")
    return Path(raw.strip()).expanduser()


def optional_path(raw: str) -> Path | None:
    return path(raw) if raw.strip() else None


def location(raw: str) -> Path | ObjectUrl:
    return ObjectUrl.parse(raw.strip()) if raw.strip().startswith("s3://") else path(raw)


def optional_location(raw: str) -> Path | ObjectUrl | None:
    return location(raw) if raw.strip() else None


def listen(raw: str) -> str:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {raw!r}")
    return raw.strip()


def optional_listen(raw: str) -> str:
    return listen(raw) if raw.strip() else ""


def extensions(raw: str) -> tuple[str, ...]:
    items = [e.strip().lower() for e in raw.replace(";", ",").split(",") if e.strip()]
    if not items:
        raise ValueError("must list at least one extension")
    for ext in items:
        if not ext.startswith(".") or "/" in ext:
            raise ValueError(f"extensions start with a dot, got {ext!r}")
    return tuple(items)


def queues(raw: str) -> tuple[str, ...]:
    names = tuple(q.strip() for q in raw.split(",") if q.strip())
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {unknown[0]!r}; queues are {', '.join(QUEUES)}")
    return names


def kind_timeouts(raw: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        kind, sep, seconds = item.partition("=")
        kind = kind.strip()
        if not sep or kind not in set(JobKind):
            raise ValueError(f"expected kind=seconds with a kind from {', '.join(JobKind)}, got {item!r}")
        result[kind] = integer(1)(seconds)
    return result


def redis_url(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"expected redis://, rediss:// or unix:// URL, got {value!r}")
    return value


def host_ports(raw: str) -> tuple[tuple[str, int], ...]:
    """A comma-separated list of host:port ("" = none)."""
    found = []
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port[,host:port …], got {item!r}")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def replicas(raw: str) -> int | None:
    """A replica count, or None for "auto"."""
    value = raw.strip().lower()
    if value == "auto":
        return None
    return integer(0)(value)


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected {', '.join(choices[:-1])} or {choices[-1]}, got {raw!r}")
        return value

    return parse


log_format = one_of("auto", "json", "text")


def log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return value


def flight_location(raw: str) -> str:
    """A Flight location URI: grpc://host:port or grpc+tls://host:port ("" = derived)."""
    value = raw.strip()
    if not value:
        return ""
    scheme, sep, address = value.partition("://")
    if not sep or scheme not in ("grpc", "grpc+tls", "grpc+tcp"):
        raise ValueError(f"expected grpc://HOST:PORT or grpc+tls://HOST:PORT, got {raw!r}")
    listen(address)
    return value
