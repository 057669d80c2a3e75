"""airpy.analyze.insights: the metrics the narrative is written from, and may cite."""

from __future__ import annotations

import pyarrow as pa

from airpy.analyze.eda import EdaReport
from airpy.analyze.insights import metrics
from airpy.data.metrics import HLL_RELATIVE_ERROR
from airpy.data.stats import ColumnStats
from airpy.schema import Logical


def test_an_estimated_distinct_count_comes_with_its_error() -> None:
    exact = ColumnStats("tier", "string", Logical.STRING, True, count=2_000_000, distinct=3)
    estimated = ColumnStats("id", "int64", Logical.INTEGER, False, count=2_000_000, distinct=1_990_000)
    estimated.distinct_approximate, estimated.distinct_error = True, HLL_RELATIVE_ERROR
    schema = pa.schema([("tier", pa.string()), ("id", pa.int64())])
    found = metrics(EdaReport(2_000_000, schema, [exact, estimated], 0))
    assert found["columns.id.distinct_relative_error"] == round(HLL_RELATIVE_ERROR, 4)
    assert "columns.tier.distinct_relative_error" not in found
    assert (found["columns.tier.distinct"], found["columns.id.distinct"], found["duplicate_rows"]) == (3, 1_990_000, 0)
