"""The SQL a plan compiles to, as it is built: bound parameters, CTE stages, the columns of a stage."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any

from airpy.errors import ValidationError
from airpy.schema import Logical


@dataclass
class Columns:
    """The columns of one stage, in order: name -> logical type."""

    types: dict[str, Logical]

    def need(self, name: str, path: str, *, what: str = "column") -> Logical:
        if name in self.types:
            return self.types[name]
        close = difflib.get_close_matches(name, list(self.types), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError.for_field(path, f"no {what} {name!r} here{hint}")


class Builder:
    """The parameters bound so far ($1 …) and the CTE stages, each a SELECT over the one before."""

    def __init__(self) -> None:
        self.params: list[Any] = []
        self.ctes: list[str] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        if isinstance(value, dt.datetime):
            # A zone-aware moment binds as TIMESTAMPTZ, which DuckDB will not compare with a
            # TIMESTAMP_NS column; as a TIMESTAMP (UTC, the engine's zone) it compares with
            # every timestamp column.
            return f"CAST(${len(self.params)} AS TIMESTAMP)"
        return f"${len(self.params)}"

    def stage(self, select: str) -> str:
        name = f"s{len(self.ctes)}"
        self.ctes.append(f"{name} AS ({select})")
        return name
