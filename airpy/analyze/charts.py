"""Chart hints: which columns deserve a picture, each with a ready Vega-Lite v5 spec (data inlined).

The data in a spec is already reduced (bins, top values, time buckets, at most a few hundred
points), so a frontend renders it as it is.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import polars as pl

from airpy.analyze.findings import Correlation, Outliers
from airpy.data.jsonrows import json_value
from airpy.data.stats import ColumnStats, Hint
from airpy.schema import NUMERIC, Logical

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_BINS = 20
_POINTS = 500
_HISTOGRAMS, _BARS, _BOXES, _HEATMAP_COLUMNS = 6, 4, 3, 12


class ChartType(StrEnum):
    HISTOGRAM = "histogram"
    BAR = "bar"
    LINE = "line"
    SCATTER = "scatter"
    BOX = "box"
    HEATMAP = "heatmap"


@dataclass(frozen=True)
class Chart:
    type: ChartType
    x: str
    y: str
    title: str
    spec: dict[str, Any]

    @property
    def vega_lite(self) -> str:
        return json.dumps(self.spec, default=str)


def charts_for(
    frame: pl.DataFrame,
    columns: Sequence[ColumnStats],
    correlations: Sequence[Correlation],
    outliers: Sequence[Outliers],
) -> list[Chart]:
    numeric = [
        c
        for c in columns
        if c.logical in NUMERIC and c.distinct > 1 and Hint.IDENTIFIER not in c.hints and c.name in frame.columns
    ]
    numeric.sort(key=lambda c: -(c.stddev or 0) / (abs(c.mean or 0) + 1e-9))
    found = [_histogram(frame, c.name) for c in numeric[:_HISTOGRAMS]]
    categorical = [c for c in columns if Hint.CATEGORICAL in c.hints and c.top_values]
    found.extend(_bar(c) for c in categorical[:_BARS])
    temporal = next((c for c in columns if c.logical in {Logical.DATE, Logical.TIMESTAMP} and c.distinct > 1), None)
    if temporal is not None and numeric:
        line = _line(frame, temporal.name, numeric[0].name)
        if line is not None:
            found.append(line)
    pearson = next((c for c in correlations if c.method.value == "pearson"), None)
    if pearson is not None:
        found.append(_scatter(frame, pearson.a, pearson.b, pearson.value))
    found.extend(_box(frame, o.column) for o in list(outliers)[:_BOXES])
    if len(numeric) >= 3:
        found.append(_heatmap(frame, [c.name for c in numeric[:_HEATMAP_COLUMNS]]))
    return [c for c in found if c is not None]


def _spec(title: str, values: list[dict[str, Any]], mark: Any, encoding: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": SCHEMA, "title": title, "data": {"values": values}, "mark": mark, "encoding": encoding}


def _histogram(frame: pl.DataFrame, name: str) -> Chart:
    values = frame.get_column(name).drop_nulls().cast(pl.Float64).to_numpy()
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=_BINS) if len(values) else (np.array([]), np.array([0.0]))
    data = [
        {"bin_start": float(edges[i]), "bin_end": float(edges[i + 1]), "count": int(counts[i])}
        for i in range(len(counts))
    ]
    title = f"Distribution of {name}"
    encoding = {
        "x": {"field": "bin_start", "bin": {"binned": True}, "type": "quantitative", "title": name},
        "x2": {"field": "bin_end"},
        "y": {"field": "count", "type": "quantitative", "title": "rows"},
    }
    return Chart(ChartType.HISTOGRAM, name, "count", title, _spec(title, data, "bar", encoding))


def _bar(column: ColumnStats) -> Chart:
    data = [{"value": json_value(v), "count": c} for v, c in column.top_values]
    title = f"Most frequent values of {column.name}"
    encoding = {
        "x": {"field": "value", "type": "nominal", "sort": "-y", "title": column.name},
        "y": {"field": "count", "type": "quantitative", "title": "rows"},
    }
    return Chart(ChartType.BAR, column.name, "count", title, _spec(title, data, "bar", encoding))


def _line(frame: pl.DataFrame, time: str, value: str) -> Chart | None:
    series = frame.select(pl.col(time), pl.col(value).cast(pl.Float64)).drop_nulls()
    if series.height < 2:
        return None
    start, end = series.get_column(time).min(), series.get_column(time).max()
    span = end - start  # type: ignore[operator]
    span_days = span.total_seconds() / 86400 if isinstance(span, dt.timedelta) else 0.0
    every = "1h" if span_days <= 7 else "1d" if span_days <= 370 else "1mo"
    column = pl.col(time).cast(pl.Datetime("us")) if series.schema[time] == pl.Date else pl.col(time)
    buckets = (
        series.with_columns(column.dt.truncate(every).alias("bucket"))
        .group_by("bucket")
        .agg(pl.col(value).mean().alias(value))
        .sort("bucket")
        .tail(_POINTS)
    )
    data = [{"time": json_value(t), value: json_value(v)} for t, v in buckets.iter_rows()]
    title = f"{value} over {time} (mean per {every})"
    encoding = {
        "x": {"field": "time", "type": "temporal", "title": time},
        "y": {"field": value, "type": "quantitative", "title": f"mean {value}"},
    }
    return Chart(ChartType.LINE, time, value, title, _spec(title, data, "line", encoding))


def _scatter(frame: pl.DataFrame, a: str, b: str, r: float) -> Chart:
    points = frame.select(pl.col(a).cast(pl.Float64), pl.col(b).cast(pl.Float64)).drop_nulls()
    if points.height > _POINTS:
        points = points.sample(_POINTS, seed=0)
    data = [{a: json_value(x), b: json_value(y)} for x, y in points.iter_rows()]
    title = f"{b} against {a} (r = {r:.2f})"
    encoding = {"x": {"field": a, "type": "quantitative"}, "y": {"field": b, "type": "quantitative"}}
    return Chart(ChartType.SCATTER, a, b, title, _spec(title, data, "point", encoding))


def _box(frame: pl.DataFrame, name: str) -> Chart:
    """A box plot drawn from exact statistics (quartiles, 1.5 IQR whiskers) plus the outlying points."""
    values = frame.get_column(name).drop_nulls().cast(pl.Float64)
    values = values.filter(values.is_finite())
    q1, median, q3 = (values.quantile(q, "linear") for q in (0.25, 0.5, 0.75))
    assert q1 is not None
    assert median is not None
    assert q3 is not None
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    inside = values.filter((values >= low) & (values <= high))
    outside = values.filter((values < low) | (values > high))
    if outside.len() > _POINTS:
        outside = outside.sample(_POINTS, seed=0)
    box = {"lower": inside.min(), "q1": q1, "median": median, "q3": q3, "upper": inside.max()}
    title = f"Spread and outliers of {name}"
    y = {"type": "quantitative", "title": name}
    spec = {
        "$schema": SCHEMA,
        "title": title,
        "layer": [
            {
                "data": {"values": [{k: json_value(v) for k, v in box.items()}]},
                "layer": [
                    {"mark": "rule", "encoding": {"y": {"field": "lower", **y}, "y2": {"field": "upper"}}},
                    {
                        "mark": {"type": "bar", "size": 30},
                        "encoding": {"y": {"field": "q1", **y}, "y2": {"field": "q3"}},
                    },
                    {
                        "mark": {"type": "tick", "size": 30, "color": "white"},
                        "encoding": {"y": {"field": "median", **y}},
                    },
                ],
            },
            {
                "data": {"values": [{name: json_value(v)} for v in outside.to_list()]},
                "mark": {"type": "point", "color": "firebrick"},
                "encoding": {"y": {"field": name, **y}},
            },
        ],
    }
    return Chart(ChartType.BOX, "", name, title, spec)


def _heatmap(frame: pl.DataFrame, names: list[str]) -> Chart:
    numbers = frame.select([pl.col(n).cast(pl.Float64) for n in names])
    exprs = [pl.corr(a, b).alias(f"{i}:{j}") for i, a in enumerate(names) for j, b in enumerate(names) if i < j]
    row = numbers.select(exprs).row(0) if exprs else ()
    values = {}
    for expr, value in zip(exprs, row, strict=True):
        i, j = (int(x) for x in expr.meta.output_name().split(":"))
        values[(i, j)] = values[(j, i)] = value
    data = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            value = 1.0 if i == j else values.get((i, j))
            data.append({"a": a, "b": b, "r": json_value(value if value is None or math.isfinite(value) else None)})
    title = "Correlation of numeric columns (Pearson)"
    encoding = {
        "x": {"field": "a", "type": "nominal", "title": None},
        "y": {"field": "b", "type": "nominal", "title": None},
        "color": {"field": "r", "type": "quantitative", "scale": {"domain": [-1, 1], "scheme": "redblue"}},
    }
    return Chart(ChartType.HEATMAP, "", "", title, _spec(title, data, "rect", encoding))
