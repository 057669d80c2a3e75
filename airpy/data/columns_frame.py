"""Column profiles as an Arrow table: the frame `columns` of InferSchema and EDA/profile jobs.

GetJob's reply is byte-capped, so a wide dataset's per-column list is cut there; this frame
holds every column's profile, one row each, in the dataset's column order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa

from airpy.data.jsonrows import json_value
from airpy.data.stats import ColumnStats

COLUMNS_FRAME = "columns"

_TOP_VALUE = pa.struct([("value", pa.string()), ("count", pa.int64())])

COLUMNS_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("arrow_type", pa.string()),
        ("logical_type", pa.string()),
        ("nullable", pa.bool_()),
        ("count", pa.int64()),
        ("null_count", pa.int64()),
        ("null_ratio", pa.float64()),
        ("distinct_count", pa.int64()),
        ("distinct_approximate", pa.bool_()),
        ("distinct_relative_error", pa.float64()),
        # Values of the column's own type, as JSON text (one column cannot hold every type).
        ("min", pa.string()),
        ("max", pa.string()),
        ("mean", pa.float64()),
        ("stddev", pa.float64()),
        ("p5", pa.float64()),
        ("p25", pa.float64()),
        ("p50", pa.float64()),
        ("p75", pa.float64()),
        ("p95", pa.float64()),
        ("length_min", pa.int64()),
        ("length_mean", pa.float64()),
        ("length_max", pa.int64()),
        ("top_values", pa.list_(_TOP_VALUE)),
        ("detected_format", pa.string()),
        ("hints", pa.list_(pa.string())),
    ]
)


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(json_value(value))


def columns_table(columns: Sequence[ColumnStats]) -> pa.Table:
    """One row per column profile, in the order given."""
    rows = []
    for c in columns:
        quantiles = c.quantiles or (None,) * 5
        lengths = c.string_lengths or (None, None, None)
        rows.append(
            {
                "name": c.name,
                "arrow_type": c.arrow_type,
                "logical_type": c.logical.value,
                "nullable": c.nullable,
                "count": c.count,
                "null_count": c.null_count,
                "null_ratio": c.null_ratio,
                "distinct_count": c.distinct,
                "distinct_approximate": c.distinct_approximate,
                "distinct_relative_error": c.distinct_error,
                "min": _json(c.min),
                "max": _json(c.max),
                "mean": c.mean,
                "stddev": c.stddev,
                **dict(zip(("p5", "p25", "p50", "p75", "p95"), quantiles, strict=True)),
                "length_min": lengths[0],
                "length_mean": lengths[1],
                "length_max": lengths[2],
                "top_values": [{"value": _json(v), "count": n} for v, n in c.top_values],
                "detected_format": c.detected_format,
                "hints": [h.value for h in c.hints],
            }
        )
    return pa.Table.from_pylist(rows, schema=COLUMNS_SCHEMA)
